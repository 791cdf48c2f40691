// fever's search page: plain ES module, no dependencies, served by the API itself.
// Flow: a photo (dropped, pasted or picked) goes to POST /search?face=all; its faces are outlined;
// a click on one shows its neighbours; a click on a neighbour searches from it (GET
// /faces/{id}/similar, kept in the URL as #face=<id> so Back works).

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'fever-token';
// Photos over this size are downscaled in the browser before upload (a phone's 12 MP JPEG is
// 3-8 MB; the encoder works at 416 px). Smaller ones go as they are, so that an example that is
// itself indexed is recognised by its bytes and left out of its own results.
const UPLOAD_MAX_BYTES = 2_500_000;
const UPLOAD_MAX_SIDE = 2048;

const state = {
  collections: new Set(),
  labels: new Set(),
  /** The current query: { kind: 'upload', blob, result, faceIndex } or { kind: 'face', id, result }. */
  query: null,
  offset: 0,
  seq: 0,
};

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init.headers ?? {}) } });
  if (res.status === 401) {
    if (await askToken()) return api(path, init);
    throw new ApiError(401, 'UNAUTHORIZED', 'this server needs a token');
  }
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await res.json() : null;
  if (!res.ok) {
    const err = body?.error ?? { code: `HTTP_${res.status}`, message: res.statusText };
    throw new ApiError(res.status, err.code, err.message);
  }
  return body;
}

let tokenPrompt = null;

/** One prompt however many requests were refused at once; resolves true when a token was given. */
function askToken() {
  tokenPrompt ??= promptToken().finally(() => {
    tokenPrompt = null;
  });
  return tokenPrompt;
}

function promptToken() {
  const dialog = $('token-dialog');
  return new Promise((resolve) => {
    const form = $('token-form');
    const done = (ok) => {
      form.onsubmit = null;
      dialog.onclose = null;
      dialog.close();
      resolve(ok);
    };
    form.onsubmit = (event) => {
      event.preventDefault();
      const value = $('token').value.trim();
      if (event.submitter?.value === 'cancel' || !value) return done(false);
      localStorage.setItem(TOKEN_KEY, value);
      done(true);
    };
    dialog.onclose = () => done(false);
    dialog.showModal();
  });
}

/** Sets an <img> from an API URL; with a token the bytes are fetched with it (img can't send headers). */
function setImage(img, url) {
  if (!localStorage.getItem(TOKEN_KEY)) {
    img.src = url;
    return;
  }
  fetch(url, { headers: authHeaders() })
    .then((res) => (res.ok ? res.blob() : Promise.reject(new Error(String(res.status)))))
    .then((blob) => {
      img.src = URL.createObjectURL(blob);
      img.onload = () => URL.revokeObjectURL(img.src);
    })
    .catch(() => img.classList.add('broken'));
}

function filterParams() {
  const p = new URLSearchParams();
  p.set('k', $('k').value);
  if (state.collections.size) p.set('collection', [...state.collections].join(','));
  if (state.labels.size) p.set('label', [...state.labels].join(','));
  // People: everyone, other people than the query's, or one person (person=<id>).
  if ($('person').value) p.set('person', $('person').value);
  if ($('diverse').checked) p.set('diverse', 'true');
  if ($('fold').checked) p.set('fold', 'true');
  return p;
}

// ---------------------------------------------------------------- filters

function chip(text, pressed, onToggle) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'chip';
  b.textContent = text;
  b.setAttribute('aria-pressed', String(pressed));
  b.addEventListener('click', () => {
    const now = b.getAttribute('aria-pressed') !== 'true';
    b.setAttribute('aria-pressed', String(now));
    onToggle(now);
  });
  return b;
}

function toggler(set, value) {
  return (on) => {
    if (on) set.add(value);
    else set.delete(value);
    const n = state.collections.size + state.labels.size;
    $('filter-count').hidden = n === 0;
    $('filter-count').textContent = String(n);
    rerun();
  };
}

async function loadFilters() {
  try {
    const [{ collections }, { models }] = await Promise.all([api('collections'), api('models')]);
    const box = $('collections');
    box.replaceChildren(...collections.map((c) => chip(c.name, false, toggler(state.collections, c.name))));
    if (!collections.length) box.innerHTML = '<span class="muted small">no collections yet</span>';
    const labels = models.find((m) => m.active)?.labels ?? [];
    $('labels').replaceChildren(...labels.map((l) => chip(l, false, toggler(state.labels, l))));
  } catch (err) {
    showError(err);
  }
}

// ---------------------------------------------------------------- query side

function showPhoto(src, width, height, faces, activeIndex, onPick, caption) {
  $('drop').classList.remove('over');
  $('drop').classList.add('compact');
  $('stage').hidden = false;
  const photo = $('photo');
  if (src instanceof Blob) {
    const url = URL.createObjectURL(src);
    photo.onload = () => URL.revokeObjectURL(url);
    photo.src = url;
  } else {
    setImage(photo, src);
  }
  const boxes = $('boxes');
  boxes.replaceChildren(
    ...faces.map((face, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'face-box';
      b.style.left = `${(face.box.x / width) * 100}%`;
      b.style.top = `${(face.box.y / height) * 100}%`;
      b.style.width = `${(face.box.width / width) * 100}%`;
      b.style.height = `${(face.box.height / height) * 100}%`;
      b.setAttribute('aria-pressed', String(i === activeIndex));
      b.setAttribute('aria-label', `face ${i + 1}: ${face.label}`);
      const tag = document.createElement('span');
      tag.textContent = face.label;
      b.append(tag);
      b.addEventListener('click', () => onPick(i));
      return b;
    }),
  );
  $('caption').textContent = caption;
}

function showSelected(face) {
  const el = $('selected');
  if (!face) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  const probs = Object.entries(face.probs ?? {}).sort((a, b) => b[1] - a[1]);
  const title = document.createElement('h2');
  title.textContent = `Selected face: ${face.label}`;
  const table = document.createElement('div');
  table.className = 'probs';
  for (const [label, p] of probs) {
    const name = document.createElement('span');
    name.textContent = label;
    const track = document.createElement('span');
    track.className = 'bar-track';
    const fill = document.createElement('span');
    fill.className = 'bar-fill';
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    track.append(fill);
    const pct = document.createElement('span');
    pct.textContent = `${(p * 100).toFixed(0)}%`;
    table.append(name, track, pct);
  }
  el.replaceChildren(title, table);
  if (face.personId != null) showPersonStrip(el, face.personId);
}

/** Under a selected face: its person, one face per expression, and a link to their page. */
async function showPersonStrip(el, personId) {
  try {
    const person = await api(`people/${personId}?perExpression=1`);
    const strip = document.createElement('div');
    strip.className = 'person-strip';
    const head = document.createElement('a');
    head.href = `#person=${person.id}`;
    head.className = 'person-name';
    head.textContent = `${person.name ?? `Person ${person.id}`} · ${person.faceCount} face${person.faceCount === 1 ? '' : 's'}`;
    const row = document.createElement('div');
    row.className = 'person-faces';
    for (const e of person.expressions) row.append(faceLink(e.faces[0], `${e.label} (${e.count})`));
    const only = document.createElement('button');
    only.type = 'button';
    only.className = 'link person-only';
    only.textContent = 'only this person';
    only.title = "rank this person's faces by this expression";
    only.addEventListener('click', () => onlyPerson(person));
    strip.append(head, only, row);
    el.append(strip);
  } catch {
    // no person strip: the rest of the selection stays
  }
}

/** Restricts the results to one person (person=<id>), as an option of the People filter. */
function onlyPerson(person) {
  const select = $('person');
  const value = String(person.id);
  let option = [...select.options].find((o) => o.value === value);
  if (!option) {
    option = new Option(`only ${person.name ?? `person ${person.id}`}`, value);
    select.append(option);
  }
  select.value = value;
  rerun();
}

/** A small face thumbnail that searches from that face. */
function faceLink(f, caption) {
  const a = document.createElement('a');
  a.href = `#face=${f.faceId}`;
  a.className = 'person-face';
  a.title = caption;
  const img = document.createElement('img');
  img.alt = caption;
  img.width = 64;
  img.height = 64;
  img.loading = 'lazy';
  setImage(img, `faces/${f.faceId}/thumbnail?size=160`);
  const label = document.createElement('span');
  label.textContent = caption;
  a.append(img, label);
  return a;
}

/** A person's page: one row per expression, largest first. */
async function showPerson(id) {
  const seq = ++state.seq;
  setStatus('Loading person…');
  try {
    const person = await api(`people/${id}?perExpression=12`);
    if (seq !== state.seq) return;
    state.query = null;
    $('stage').hidden = true;
    $('more').hidden = true;
    const el = $('selected');
    el.hidden = false;
    const title = document.createElement('h2');
    title.textContent = `${person.name ?? `Person ${person.id}`} in ${person.collection}`;
    el.replaceChildren(title);
    const rows = person.expressions.map((e) => {
      const row = document.createElement('section');
      row.className = 'expression-row';
      const h = document.createElement('h3');
      h.textContent = `${e.label} · ${e.count}`;
      const faces = document.createElement('div');
      faces.className = 'person-faces';
      faces.append(...e.faces.map((f) => faceLink(f, e.label)));
      row.append(h, faces);
      return row;
    });
    $('grid').replaceChildren(...rows);
    setStatus(
      `${person.faceCount} face${person.faceCount === 1 ? '' : 's'} in ${person.expressions.length} expression${person.expressions.length === 1 ? '' : 's'}`,
    );
  } catch (err) {
    if (seq === state.seq) showError(err);
  }
}

/** Downscales big photos before upload (and bakes in EXIF orientation): less to send from a phone. */
async function prepareUpload(file) {
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    if (file.size <= UPLOAD_MAX_BYTES) {
      bitmap.close();
      return file;
    }
    const scale = Math.min(1, UPLOAD_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return await new Promise((resolve) => canvas.toBlob((b) => resolve(b ?? file), 'image/jpeg', 0.9));
  } catch {
    return file; // a format the browser can't draw (TIFF…): the server decides
  }
}

async function searchUpload(blob) {
  const seq = ++state.seq;
  setStatus('Looking for faces…');
  const params = filterParams();
  params.set('face', 'all');
  try {
    const result = await api(`search?${params}`, {
      method: 'POST',
      body: blob,
      headers: { 'Content-Type': blob.type || 'application/octet-stream' },
    });
    if (seq !== state.seq) return;
    const faceIndex = largestFace(result.faces);
    state.query = { kind: 'upload', blob, result, faceIndex };
    if (location.hash) history.pushState(null, '', location.pathname + location.search);
    renderUpload();
  } catch (err) {
    if (seq === state.seq) showError(err);
  }
}

function largestFace(faces) {
  let best = -1;
  let area = -1;
  faces.forEach((f, i) => {
    const a = f.box.width * f.box.height;
    if (a > area) {
      area = a;
      best = i;
    }
  });
  return best;
}

function renderUpload() {
  const { blob, result, faceIndex } = state.query;
  const n = result.faces.length;
  showPhoto(
    blob,
    result.image.width,
    result.image.height,
    result.faces,
    faceIndex,
    (i) => {
      state.query.faceIndex = i;
      renderUpload();
    },
    n === 0
      ? 'No face found in this photo.'
      : result.faces[0].source === 'whole-image'
        ? 'No face detected: searching with the whole photo as the face.'
        : `${n} face${n === 1 ? '' : 's'} found — click one to search with it.`,
  );
  const face = result.faces[faceIndex];
  showSelected(face);
  state.offset = 0;
  if (!face) {
    renderResults([], false);
    setStatus('No face to search with: try a photo with a clearly visible face.');
    return;
  }
  renderResults(face.results, false);
  setStatus(summary(face.results.length, result.tookMs));
}

async function searchFace(id, append = false) {
  const seq = ++state.seq;
  const params = filterParams();
  if (append) params.set('offset', String(state.offset));
  setStatus(append ? 'Loading more…' : 'Searching…');
  try {
    const result = await api(`faces/${encodeURIComponent(id)}/similar?${params}`);
    if (seq !== state.seq) return;
    if (!append) {
      state.query = { kind: 'face', id, result };
      state.offset = 0;
      renderFaceQuery(result.face);
    }
    renderResults(result.results, append);
    setStatus(summary(state.offset, result.tookMs));
  } catch (err) {
    if (seq === state.seq) showError(err);
  }
}

async function renderFaceQuery(face) {
  const { image } = face;
  const width = image.width ?? face.box.x + face.box.width;
  const height = image.height ?? face.box.y + face.box.height;
  const preview = face.urls?.preview ?? `images/${image.id}/preview`;
  showPhoto(preview, width, height, [face], 0, () => {}, `From ${face.collection} · image ${image.id}`);
  showSelected(face);
  // Outline the photo's other faces too, so any of them can be searched from here.
  try {
    const details = await api(`images/${image.id}`);
    if (state.query?.kind !== 'face' || state.query.id !== face.id) return;
    const faces = details.faces;
    const active = faces.findIndex((f) => f.id === face.id);
    showPhoto(
      preview,
      width,
      height,
      faces,
      active,
      (i) => {
        if (faces[i].id !== face.id) location.hash = `face=${faces[i].id}`;
      },
      `From ${face.collection} · ${faces.length} face${faces.length === 1 ? '' : 's'} in this photo`,
    );
  } catch {
    // the single outline stays
  }
}

// ---------------------------------------------------------------- results

function renderResults(results, append) {
  const grid = $('grid');
  const cards = results.map((r) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'result';
    b.dataset.faceId = r.id;
    b.title = `${r.label} · similarity ${r.similarity.toFixed(3)} · ${r.collection}`;
    const img = document.createElement('img');
    img.alt = `${r.label} face`;
    img.loading = 'lazy';
    img.decoding = 'async';
    img.width = 160;
    img.height = 160;
    setImage(img, r.urls?.thumbnail ?? `faces/${r.id}/thumbnail`);
    const meta = document.createElement('span');
    meta.className = 'meta';
    const p = r.probs?.[r.label];
    const folded =
      r.folded && r.folded.count > 1
        ? `<span class="folded" title="near-duplicates of one person folded into this result">×${r.folded.count}</span>`
        : '';
    meta.innerHTML = `<span class="score">${r.similarity.toFixed(3)}</span><span class="label">${escapeHtml(r.label)}${p === undefined ? '' : ` ${(p * 100).toFixed(0)}%`}</span>${folded}<span class="where">${escapeHtml(r.collection)}</span>`;
    b.append(img, meta);
    b.addEventListener('click', () => {
      location.hash = `face=${r.id}`;
    });
    return b;
  });
  if (append) grid.append(...cards);
  else grid.replaceChildren(...cards);
  const k = Number($('k').value);
  state.offset += results.length;
  $('more').hidden = !(state.query?.kind === 'face' && results.length === k && state.offset + k <= 1000);
}

function summary(n, ms) {
  if (n === 0) return 'No similar face found (check the filters, or index more photos).';
  return `${n} similar face${n === 1 ? '' : 's'} · ${Math.round(ms)} ms`;
}

// ---------------------------------------------------------------- plumbing

function setStatus(text) {
  const s = $('status');
  s.classList.remove('error');
  s.textContent = text;
}

function showError(err) {
  const s = $('status');
  s.classList.add('error');
  s.textContent = err instanceof ApiError ? `${err.message} (${err.code})` : String(err?.message ?? err);
}

function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

function rerun() {
  const q = state.query;
  if (!q) return;
  if (q.kind === 'upload') searchUpload(q.blob);
  else searchFace(q.id);
}

async function takeFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) {
    showError(new Error(`${file.name} is not an image`));
    return;
  }
  searchUpload(await prepareUpload(file));
}

function route() {
  const m = /^#face=([0-9a-fA-F-]{36})$/.exec(location.hash);
  if (m) searchFace(m[1]);
  const p = /^#person=(\d{1,10})$/.exec(location.hash);
  if (p) showPerson(p[1]);
}

function init() {
  const drop = $('drop');
  $('pick').addEventListener('click', () => $('file').click());
  $('file').addEventListener('change', (e) => takeFile(e.target.files?.[0]));
  for (const type of ['dragenter', 'dragover']) {
    document.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  document.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget) drop.classList.remove('over');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    takeFile(e.dataTransfer?.files?.[0]);
  });
  document.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.type.startsWith('image/'));
    if (item) takeFile(item.getAsFile());
  });
  $('k').addEventListener('change', rerun);
  for (const id of ['person', 'diverse', 'fold']) $(id).addEventListener('change', rerun);
  $('more').addEventListener('click', () => {
    if (state.query?.kind === 'face') searchFace(state.query.id, true);
  });
  window.addEventListener('hashchange', route);
  loadFilters();
  route();
}

init();
