// fever's API reference: renders /openapi.json (generated from the zod schemas) with a
// "try it" form per operation. Self-contained: nothing is loaded from anywhere but this server.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'fever-token';

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let tokenPrompt = null;

function askToken() {
  tokenPrompt ??= promptToken().finally(() => {
    tokenPrompt = null;
  });
  return tokenPrompt;
}

function promptToken() {
  const dialog = $('token-dialog');
  return new Promise((resolve) => {
    $('token-form').onsubmit = (event) => {
      event.preventDefault();
      const value = $('token').value.trim();
      dialog.close();
      if (event.submitter?.value === 'cancel' || !value) return resolve(false);
      localStorage.setItem(TOKEN_KEY, value);
      resolve(true);
    };
    dialog.showModal();
  });
}

async function request(url, init = {}) {
  const res = await fetch(url, { ...init, headers: { ...authHeaders(), ...(init.headers ?? {}) } });
  if (res.status === 401 && (await askToken())) return request(url, init);
  return res;
}

const anchor = (op) => `op-${op.operationId}`;
const refName = (ref) => ref.split('/').pop();

function schemaSummary(schema) {
  if (!schema) return '';
  if (schema.$ref) return refName(schema.$ref);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.anyOf) return schema.anyOf.map(schemaSummary).join(' | ');
  if (schema.type === 'array') return `${schemaSummary(schema.items)}[]`;
  const bits = [schema.type ?? 'any'];
  if (schema.minimum !== undefined) bits.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) bits.push(`≤ ${schema.maximum}`);
  if (schema.format) bits.push(schema.format);
  if (schema.default !== undefined) bits.push(`default ${JSON.stringify(schema.default)}`);
  return bits.join(', ');
}

function schemaLink(schema) {
  if (schema?.$ref) return el('a', { href: `#schema-${refName(schema.$ref)}`, text: refName(schema.$ref) });
  return el('code', { text: schemaSummary(schema) });
}

function renderOperation(path, method, op) {
  const params = op.parameters ?? [];
  const section = el(
    'section',
    { class: 'op', id: anchor(op) },
    el(
      'h2',
      {},
      el('span', { class: `method ${method}`, text: method }),
      el('code', { class: 'path', text: path }),
      op.security && op.security.length === 0 ? el('span', { class: 'badge', text: 'no token' }) : undefined,
    ),
    el('p', { text: op.summary }),
    op.description ? el('p', { class: 'muted small', text: op.description }) : undefined,
  );
  if (params.length) {
    const rows = params.map((p) =>
      el(
        'tr',
        {},
        el('td', {}, el('code', { text: p.name }), p.required ? ' *' : ''),
        el('td', { text: p.in }),
        el('td', {}, el('code', { text: schemaSummary(p.schema) })),
        el('td', { text: p.description ?? '' }),
      ),
    );
    section.append(
      el(
        'table',
        {},
        el(
          'tr',
          {},
          el('th', { text: 'parameter' }),
          el('th', { text: 'in' }),
          el('th', { text: 'type' }),
          el('th'),
        ),
        ...rows,
      ),
    );
  }
  const content = op.requestBody?.content ?? {};
  if (Object.keys(content).length) {
    section.append(
      el(
        'p',
        { class: 'small' },
        'Body: ',
        ...Object.entries(content).flatMap(([type, c], i) => [
          i ? ', ' : '',
          el('code', { text: type }),
          c.schema?.$ref ? ' ' : '',
          c.schema?.$ref ? schemaLink(c.schema) : undefined,
        ]),
      ),
    );
  }
  const responses = Object.entries(op.responses ?? {}).map(([status, r]) => {
    const json = r.content?.['application/json']?.schema;
    const other = Object.keys(r.content ?? {}).find((t) => t !== 'application/json');
    return el(
      'tr',
      {},
      el('td', {}, el('code', { text: status })),
      el('td', { text: r.description }),
      el('td', {}, json ? schemaLink(json) : other ? el('code', { text: other }) : ''),
    );
  });
  section.append(
    el('table', {}, el('tr', {}, el('th', { text: 'status' }), el('th'), el('th')), ...responses),
  );
  section.append(tryForm(path, method, params, content));
  return section;
}

function tryForm(path, method, params, content) {
  const form = el('form', { class: 'try' });
  const inputs = params.map((p) => {
    const input = el('input', {
      name: p.name,
      placeholder: p.schema?.default === undefined ? '' : String(p.schema.default),
      required: p.required,
    });
    form.append(el('label', {}, `${p.name} (${p.in})`, input));
    return { p, input };
  });
  let body;
  let file;
  if (content['application/json']) {
    body = el('textarea', { rows: 4, placeholder: '{ }' });
    form.append(el('label', {}, 'JSON body', body));
  } else if (content['image/*'] || content['multipart/form-data']) {
    file = el('input', { type: 'file', accept: 'image/*' });
    form.append(el('label', {}, 'Photo', file));
  }
  const out = el('div');
  form.append(el('button', { type: 'submit', text: 'Send' }), out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let url = path;
    const query = new URLSearchParams();
    for (const { p, input } of inputs) {
      if (!input.value) continue;
      if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(input.value));
      else query.set(p.name, input.value);
    }
    const init = { method: method.toUpperCase(), headers: {} };
    if (body?.value) {
      init.body = body.value;
      init.headers['Content-Type'] = 'application/json';
    } else if (file?.files?.[0]) {
      init.body = file.files[0];
      init.headers['Content-Type'] = file.files[0].type || 'application/octet-stream';
    }
    const target = `${url.replace(/^\//, '')}${query.size ? `?${query}` : ''}`;
    out.replaceChildren(el('p', { class: 'muted small', text: `${init.method} ${target}…` }));
    const started = performance.now();
    const res = await request(target, init);
    const ms = Math.round(performance.now() - started);
    const type = res.headers.get('content-type') ?? '';
    const head = el('p', { class: 'small', text: `${res.status} ${res.statusText} · ${ms} ms · ${type}` });
    if (type.startsWith('image/')) {
      const img = el('img', { alt: 'response' });
      img.src = URL.createObjectURL(await res.blob());
      out.replaceChildren(head, img);
    } else {
      const text = await res.text();
      let shown = text;
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // not JSON
      }
      out.replaceChildren(head, el('pre', { text: shown.slice(0, 100_000) }));
    }
  });
  return el('details', {}, el('summary', { class: 'small', text: 'Try it' }), form);
}

async function main() {
  const res = await request('openapi.json');
  if (!res.ok) {
    $('content').replaceChildren(el('p', { class: 'status error', text: `openapi.json: ${res.status}` }));
    return;
  }
  const doc = await res.json();
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = op.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
  }
  const content = $('content');
  const toc = $('toc');
  content.replaceChildren(
    el('h1', { text: doc.info.title }),
    el('p', { class: 'muted', text: doc.info.description }),
  );
  toc.replaceChildren();
  for (const [tag, ops] of byTag) {
    toc.append(el('h3', { text: tag }));
    content.append(el('h2', { text: tag }));
    for (const { path, method, op } of ops) {
      toc.append(
        el(
          'a',
          { href: `#${anchor(op)}` },
          el('span', { class: `method ${method}`, text: method }),
          el('span', { text: path }),
        ),
      );
      content.append(renderOperation(path, method, op));
    }
  }
  toc.append(el('h3', { text: 'schemas' }));
  content.append(el('h2', { text: 'Schemas' }));
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
    toc.append(el('a', { href: `#schema-${name}`, text: name }));
    content.append(
      el(
        'section',
        { class: 'op schema', id: `schema-${name}` },
        el('h2', { text: name }),
        el('pre', { text: JSON.stringify(schema, null, 2) }),
      ),
    );
  }
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

main();
