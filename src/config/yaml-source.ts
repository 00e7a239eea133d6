// Parses YAML with positions kept, so every config error can name its line.
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Document, type Node } from 'yaml';
import type { ConfigIssue } from './errors.js';

export interface YamlSource {
  value: unknown;
  /** YAML syntax errors (duplicate keys included), each with its line. */
  issues: ConfigIssue[];
  /** 1-based line of the node at `path` (or of the key itself when `keyOf` is given). */
  lineOf(path: readonly PropertyKey[], keyOf?: string): number | undefined;
}

export function parseYamlSource(text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [...doc.errors, ...doc.warnings].map((e) => {
    const line = lineCounter.linePos(e.pos[0]).line;
    return { path: '', message: `YAML: ${e.message.split('\n')[0] ?? e.message}`, line };
  });
  const lineAt = (offset: number | undefined) => (offset === undefined ? undefined : lineCounter.linePos(offset).line);

  function lineOf(path: readonly PropertyKey[], keyOf?: string): number | undefined {
    let node: unknown = doc.contents;
    let line = lineAt((node as Node | null)?.range?.[0]);
    const keys = keyOf === undefined ? [...path] : [...path, keyOf];
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
        if (!pair) return line;
        // For an unknown key, point at the key; otherwise at the value.
        const target = i === keys.length - 1 && keyOf !== undefined ? pair.key : (pair.value ?? pair.key);
        line = lineAt((target as Node | null)?.range?.[0]) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof key === 'number') {
        const item = node.items[key];
        if (item === undefined) return line;
        line = lineAt((item as Node | null)?.range?.[0]) ?? line;
        node = item;
      } else {
        return line;
      }
    }
    return line;
  }

  let value: unknown;
  if (issues.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // yaml throws (ReferenceError) on an alias bomb ("billion laughs") and on
      // aliases to undefined anchors: the user's file is at fault, not us (exit 2).
      issues.push({ path: '', message: `YAML: ${(err as Error).message}` });
    }
  }
  return { value, issues, lineOf };
}
