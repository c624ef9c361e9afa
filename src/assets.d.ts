// Files imported `with { type: "file" }` resolve to a path (embedded in the compiled binary).
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
// systemd units imported `with { type: "text" }`: their text, embedded in the binary.
declare module "*.service" {
  const text: string;
  export default text;
}
