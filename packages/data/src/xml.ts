/**
 * A small, strict XML reader for annotation files (Pascal VOC). Elements and text only:
 * attributes are checked for syntax and dropped; comments, the `<?xml?>` declaration and CDATA
 * are understood; a DOCTYPE, mismatched tags, stray text outside the root or an unknown entity
 * are errors. Not a general XML parser, and it does not try to be one.
 */

export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** Concatenated text directly inside the element, entities decoded, not trimmed. */
  text: string;
  /** 1-based line of the start tag. */
  line: number;
}

export class XmlSyntaxError extends Error {
  constructor(
    readonly problem: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${problem}`);
    this.name = 'XmlSyntaxError';
  }
}

const NAME = /[A-Za-z_:][A-Za-z0-9_.:-]*/y;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(s: string, line: number): string {
  return s.replace(/&([^;&\s]*);?/g, (m, body: string) => {
    if (!m.endsWith(';')) throw new XmlSyntaxError(`'&' must start an entity such as &amp; (got '${m}')`, line);
    if (body in ENTITIES) return ENTITIES[body];
    const num = /^#x([0-9a-fA-F]+)$/.exec(body) ?? /^#([0-9]+)$/.exec(body);
    if (num) {
      const code = parseInt(num[1], body[1] === 'x' ? 16 : 10);
      if (code > 0 && code <= 0x10ffff) return String.fromCodePoint(code);
    }
    throw new XmlSyntaxError(`unknown entity '&${body};'`, line);
  });
}

/** Parses one XML document into its root element. @throws XmlSyntaxError with the line. */
export function parseXml(text: string): XmlElement {
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;

  const advance = (to: number) => {
    for (let i = pos; i < to; i++) if (text.charCodeAt(i) === 10) line++;
    pos = to;
  };
  const expectEnd = (marker: string, what: string) => {
    const end = text.indexOf(marker, pos);
    if (end < 0) throw new XmlSyntaxError(`unterminated ${what}`, line);
    return end;
  };
  const readName = (what: string): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(text);
    if (!m) throw new XmlSyntaxError(`expected a ${what} name`, line);
    advance(pos + m[0].length);
    return m[0];
  };
  const skipSpace = () => {
    let i = pos;
    while (i < text.length && /\s/.test(text[i])) i++;
    advance(i);
  };

  while (pos < text.length) {
    const lt = text.indexOf('<', pos);
    const chunkEnd = lt < 0 ? text.length : lt;
    if (chunkEnd > pos) {
      const chunk = text.slice(pos, chunkEnd);
      if (stack.length > 0) stack[stack.length - 1].text += decodeEntities(chunk, line);
      else if (chunk.trim() !== '') throw new XmlSyntaxError(`text outside the root element: '${chunk.trim().slice(0, 20)}'`, line);
      advance(chunkEnd);
      continue;
    }
    if (text.startsWith('<?', pos)) {
      if (stack.length > 0 || root) throw new XmlSyntaxError('processing instruction inside the document', line);
      advance(expectEnd('?>', 'processing instruction') + 2);
    } else if (text.startsWith('<!--', pos)) {
      advance(expectEnd('-->', 'comment') + 3);
    } else if (text.startsWith('<![CDATA[', pos)) {
      if (stack.length === 0) throw new XmlSyntaxError('CDATA outside the root element', line);
      const end = expectEnd(']]>', 'CDATA section');
      stack[stack.length - 1].text += text.slice(pos + 9, end);
      advance(end + 3);
    } else if (text.startsWith('<!', pos)) {
      throw new XmlSyntaxError('DOCTYPE and other declarations are not supported', line);
    } else if (text.startsWith('</', pos)) {
      advance(pos + 2);
      const name = readName('closing tag');
      skipSpace();
      if (text[pos] !== '>') throw new XmlSyntaxError(`expected '>' after '</${name}'`, line);
      advance(pos + 1);
      const open = stack.pop();
      if (!open) throw new XmlSyntaxError(`closing tag </${name}> without an opening tag`, line);
      if (open.name !== name) {
        throw new XmlSyntaxError(`closing tag </${name}> does not match <${open.name}> opened on line ${open.line}`, line);
      }
    } else {
      const startLine = line;
      advance(pos + 1);
      const name = readName('tag');
      if (stack.length === 0 && root) throw new XmlSyntaxError(`second root element <${name}>`, line);
      const el: XmlElement = { name, children: [], text: '', line: startLine };
      let selfClosing = false;
      for (;;) {
        const before = pos;
        skipSpace();
        if (text.startsWith('/>', pos)) {
          selfClosing = true;
          advance(pos + 2);
          break;
        }
        if (text[pos] === '>') {
          advance(pos + 1);
          break;
        }
        if (pos >= text.length) throw new XmlSyntaxError(`unterminated tag <${name}>`, startLine);
        if (pos === before) throw new XmlSyntaxError(`expected whitespace before an attribute in <${name}>`, line);
        const attr = readName('attribute');
        skipSpace();
        if (text[pos] !== '=') throw new XmlSyntaxError(`attribute '${attr}' in <${name}> has no value`, line);
        advance(pos + 1);
        skipSpace();
        const quote = text[pos];
        if (quote !== '"' && quote !== "'") throw new XmlSyntaxError(`attribute '${attr}' value must be quoted`, line);
        const end = text.indexOf(quote, pos + 1);
        if (end < 0) throw new XmlSyntaxError(`unterminated value of attribute '${attr}'`, line);
        advance(end + 1);
      }
      if (stack.length > 0) stack[stack.length - 1].children.push(el);
      else root = el;
      if (!selfClosing) stack.push(el);
    }
  }
  if (stack.length > 0) {
    const open = stack[stack.length - 1];
    throw new XmlSyntaxError(`document ends inside <${open.name}> opened on line ${open.line}`, line);
  }
  if (!root) throw new XmlSyntaxError('no root element', line);
  return root;
}
