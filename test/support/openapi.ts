/**
 * The OpenAPI document with every `$ref` replaced by what it points to and every `allOf` merged into one
 * schema: tests can then read an operation's schemas directly (`….schema.properties.error.properties.code.enum`).
 */

type Json = any;
const isObject = (value: unknown): value is Record<string, Json> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Both schemas at once: enums intersect, required lists join, nested schemas merge. */
function mergeSchemas(left: Json, right: Json): Json {
  const merged: Json = { ...left };
  for (const [key, value] of Object.entries(right)) {
    if (key === "enum" && Array.isArray(merged.enum))
      merged.enum = merged.enum.filter((item: unknown) => (value as unknown[]).includes(item));
    else if (key === "required" && Array.isArray(merged.required))
      merged.required = [...new Set([...merged.required, ...(value as string[])])];
    else if (isObject(value) && isObject(merged[key])) merged[key] = mergeSchemas(merged[key], value);
    else merged[key] = value;
  }
  return merged;
}

export function inlined(doc: Json): Json {
  const resolve = (ref: string) =>
    ref
      .slice(2)
      .split("/")
      .reduce((node, key) => node[key.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
  const visit = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(visit);
    if (!isObject(node)) return node;
    if (typeof node.$ref === "string") return visit(resolve(node.$ref));
    const copy: Json = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, visit(value)]));
    if (!Array.isArray(copy.allOf)) return copy;
    const { allOf, ...rest } = copy;
    return (allOf as Json[]).reduce(mergeSchemas, rest);
  };
  return visit(doc);
}
