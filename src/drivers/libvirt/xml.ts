// A small ordered XML tree over fast-xml-parser: libvirt's documents read into it and are written
// from it, element order and attribute order kept, every value escaped by the builder.
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

type Attrs = Readonly<Record<string, string | number | undefined>>;
type Child = XmlElement | string | undefined | false;

/** One element; `children` holds elements and text, in document order. */
export interface XmlElement {
  readonly tag: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly (XmlElement | string)[];
}

/** An element; undefined attributes and undefined or false children are left out. */
export function el(tag: string, attrs: Attrs = {}, ...children: Child[]): XmlElement {
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) kept[k] = String(v);
  return { tag, attrs: kept, children: children.filter((c): c is XmlElement | string => c !== undefined && c !== false) };
}

// fast-xml-parser's preserveOrder shape: `{ <tag>: [children], ':@': { '@_<name>': value } }`,
// text as `{ '#text': value }`.
type OrderedNode = Record<string, unknown>;
const ATTR_PREFIX = '@_';
const ATTRS = ':@';
const TEXT = '#text';

const shared = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: ATTR_PREFIX,
} as const;

const parser = new XMLParser({
  ...shared,
  // Values stay strings exactly as written: a name of digits or with outer spaces is still that name.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Numeric character references (&#10;) besides the five named entities.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

const builder = new XMLBuilder({
  ...shared,
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  // An attribute whose value is "true" keeps its value (XML has no bare attributes).
  suppressBooleanAttributes: false,
});

function fromOrdered(node: OrderedNode): XmlElement | string | undefined {
  const tag = Object.keys(node).find((k) => k !== ATTRS);
  if (tag === undefined) return undefined;
  if (tag === TEXT) return String(node[TEXT]);
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries((node[ATTRS] ?? {}) as Record<string, unknown>)) {
    attrs[k.slice(ATTR_PREFIX.length)] = String(v);
  }
  const children = ((node[tag] ?? []) as OrderedNode[])
    .map(fromOrdered)
    .filter((c): c is XmlElement | string => c !== undefined);
  // Indentation between child elements is layout, not content.
  const hasElements = children.some((c) => typeof c !== 'string');
  return { tag, attrs, children: hasElements ? children.filter((c) => typeof c !== 'string' || c.trim() !== '') : children };
}

function toOrdered(node: XmlElement | string): OrderedNode {
  if (typeof node === 'string') return { [TEXT]: node };
  // An empty text is an empty element: `<tag/>`.
  const out: OrderedNode = { [node.tag]: node.children.filter((c) => c !== '').map(toOrdered) };
  const attrs = Object.entries(node.attrs);
  if (attrs.length > 0) out[ATTRS] = Object.fromEntries(attrs.map(([k, v]) => [ATTR_PREFIX + k, v]));
  return out;
}

/** The root element of a document; throws when the text is not well-formed XML. */
export function parseXml(xml: string): XmlElement {
  const nodes = parser.parse(xml, true) as OrderedNode[];
  const root = nodes.map(fromOrdered).find((n): n is XmlElement => typeof n === 'object');
  if (!root) throw new Error('the XML document has no root element');
  return root;
}

/** The element as an indented document, ending in a newline. */
export function renderXml(root: XmlElement): string {
  return `${(builder.build([toOrdered(root)]) as string).trim()}\n`;
}

/** `value` as XML text: the five special characters as entities. */
export function escapeXml(value: string): string {
  return builder.build([{ [TEXT]: value }]) as string;
}

/** XML text back to its value: named entities and character references decoded. */
export function unescapeXml(value: string): string {
  return textOf(parseXml(`<v>${value}</v>`));
}

/** The element's direct child elements. */
export function elementsOf(parent: XmlElement | undefined): XmlElement[] {
  return (parent?.children ?? []).filter((c): c is XmlElement => typeof c !== 'string');
}

/** The element's direct children with this tag. */
export function childrenNamed(parent: XmlElement | undefined, tag: string): XmlElement[] {
  return elementsOf(parent).filter((c) => c.tag === tag);
}

export function childNamed(parent: XmlElement | undefined, tag: string): XmlElement | undefined {
  return childrenNamed(parent, tag)[0];
}

/** The element's own text. */
export function textOf(element: XmlElement | undefined): string {
  return (element?.children ?? []).filter((c): c is string => typeof c === 'string').join('');
}

/** The tag without its namespace prefix. */
export function localName(tag: string): string {
  return tag.slice(tag.indexOf(':') + 1);
}
