// The Gasline dispatch desk: one page over the ops API (docs/OPERATIONS.md,
// "The ops console"). No framework and no build step: the status function
// serves this file as it is. Everything shown comes from the API with the
// token the operator signed in with, kept in this tab's sessionStorage;
// text from the API only ever reaches the page through textContent, and
// the page's Content-Security-Policy allows no inline script.
'use strict';

(() => {
  const TOKEN_KEY = 'gasline.ops_token';
  const REFRESH_MS = 5000;
  /** Pages of stations and riders read at most per refresh (500 each). */
  const MAX_PAGES = 4;
  /** The states an order can be reassigned in (until pickup). */
  const REASSIGNABLE = new Set(['source_allocated', 'rider_assigned', 'waybill_signed', 'accepted']);
  /** The states an order can be cancelled in by the desk. */
  const CANCELLABLE = new Set(['received', 'source_allocated', 'rider_assigned', 'waybill_signed', 'accepted']);
  const STATE_ORDER = [
    'received', 'source_allocated', 'rider_assigned', 'waybill_signed', 'accepted',
    'picked_up', 'delivered', 'rejected', 'cancelled', 'failed',
  ];

  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY);
  let timer = null;
  let tracked = null;
  /** Riders available now, for the reassign menus. */
  let availableRiders = [];
  /** Forms the operator has open. While one is, a refresh leaves the
   * order tables alone, so a choice being made is not thrown away. */
  const openForms = new Set();

  class ApiError extends Error {
    constructor(status, detail) {
      super(`${status}: ${detail}`);
      this.status = status;
    }
  }

  /** Builds an element; string children become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === 'class') node.className = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
    }
    return node;
  }

  function fill(tbody, rows, columns, empty) {
    if (rows.length === 0) {
      tbody.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: columns }, empty)));
    } else {
      tbody.replaceChildren(...rows);
    }
  }

  async function api(method, path, body, headers) {
    const init = { method, headers: { Authorization: `Bearer ${token}`, ...(headers || {}) } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (response.status === 401) {
      signOut('The token was refused: sign in again.');
      throw new ApiError(401, 'unauthorized');
    }
    if (!response.ok) {
      throw new ApiError(response.status, (data && (data.detail || data.title)) || text || response.statusText);
    }
    return data;
  }

  /** Every page of a listing, up to MAX_PAGES. */
  async function all(path, key) {
    const items = [];
    let after = '';
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const sep = path.includes('?') ? '&' : '?';
      const data = await api('GET', `${path}${sep}limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      items.push(...data[key]);
      if (!data.next) break;
      after = data.next;
    }
    return items;
  }

  function say(text, isError) {
    const message = $('message');
    message.textContent = text;
    message.className = isError ? 'error' : 'ok';
  }

  function age(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    return `${Math.round(s / 3600)} h`;
  }

  const millis = (v) => (v === null || v === undefined ? '–' : `${v} ms`);
  const clock = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '–');
  const items = (list) => (list || []).map((i) => `${i.quantity}× ${i.spec}`).join(', ');

  function startOfToday() {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    return midnight.getTime();
  }

  // --- panels ----------------------------------------------------------------

  function renderStates(byState) {
    const cards = STATE_ORDER.map((state) => el('div', { class: `card state-${state}`, 'data-state': state },
      el('span', { class: 'count' }, byState[state] || 0), el('span', { class: 'label' }, state.replace('_', ' '))));
    $('states').replaceChildren(...cards);
  }

  function renderServiceLevels(steps) {
    const rows = steps.map((s) => el('tr', { 'data-step': s.step, class: s.compliance < 0.99 ? 'breach' : '' },
      el('td', {}, s.step), el('td', {}, millis(s.target_ms)), el('td', {}, s.reached), el('td', {}, s.within_target),
      el('td', {}, `${(s.compliance * 100).toFixed(1)} %`), el('td', {}, millis(s.p50_ms)),
      el('td', {}, millis(s.p95_ms)), el('td', {}, millis(s.p99_ms)), el('td', {}, millis(s.max_ms))));
    fill($('sla'), rows, 9, 'no orders today yet');
  }

  /** The reassign and cancel buttons of one order, with their inline forms. */
  function actions(order, where) {
    const cell = el('td', { class: 'actions' });
    const key = `${where}:${order.id}`;
    if (REASSIGNABLE.has(order.state)) {
      cell.append(el('button', { type: 'button', class: 'reassign', onclick: () => toggle(key, 'reassign') }, 'Reassign'));
    }
    if (CANCELLABLE.has(order.state)) {
      cell.append(el('button', { type: 'button', class: 'cancel', onclick: () => toggle(key, 'cancel') }, 'Cancel'));
    }
    return cell;
  }

  function toggle(key, kind) {
    const form = `${key}:${kind}`;
    if (openForms.has(form)) openForms.delete(form);
    else {
      for (const other of [...openForms]) if (other.startsWith(`${key}:`)) openForms.delete(other);
      openForms.add(form);
    }
    renderOrderTables();
  }

  function actionForm(key, order, columns) {
    if (openForms.has(`${key}:reassign`)) {
      const select = el('select', { class: 'rider-choice', 'aria-label': 'reassign to' },
        el('option', { value: '' }, 'back to matching'),
        availableRiders.filter((r) => r.id !== order.rider_id)
          .map((r) => el('option', { value: r.id }, `${r.id} ${r.name}`)));
      const confirm = async () => {
        const body = select.value ? { rider_id: select.value } : {};
        try {
          const result = await api('POST', `/v1/ops/orders/${encodeURIComponent(order.id)}/reassign`, body);
          openForms.delete(`${key}:reassign`);
          renderOrderTables();
          say(`Order ${order.id} reassigned ${select.value ? `to ${select.value}` : 'to matching'}: now ${result.state}.`);
          await refresh();
        } catch (error) {
          if (error.status !== 401) say(`Reassigning ${order.id} failed (${error.message}).`, true);
        }
      };
      return el('tr', { class: 'form-row' }, el('td', { colspan: columns },
        'Reassign to ', select, ' ', el('button', { type: 'button', class: 'confirm-reassign', onclick: confirm }, 'Confirm')));
    }
    if (openForms.has(`${key}:cancel`)) {
      const reason = el('input', { class: 'cancel-reason', maxlength: 200, placeholder: 'reason (recorded on the timeline)', required: true });
      const confirm = async () => {
        if (!reason.value.trim()) {
          say('A cancellation needs a reason.', true);
          return;
        }
        try {
          const result = await api('POST', `/v1/orders/${encodeURIComponent(order.id)}/cancel`, { reason: reason.value.trim() });
          openForms.delete(`${key}:cancel`);
          renderOrderTables();
          say(`Order ${order.id} cancelled: now ${result.state}.`);
          await refresh();
        } catch (error) {
          if (error.status !== 401) say(`Cancelling ${order.id} failed (${error.message}).`, true);
        }
      };
      return el('tr', { class: 'form-row' }, el('td', { colspan: columns },
        'Cancel because ', reason, ' ', el('button', { type: 'button', class: 'confirm-cancel', onclick: confirm }, 'Confirm')));
    }
    return null;
  }

  let latest = { attention: [], orders: [], deadLetters: [] };

  function renderOrderTables() {
    const attentionRows = latest.attention.flatMap((item) => {
      const o = item.order;
      const key = `attention:${item.why}`;
      return [el('tr', { 'data-order': o.id, 'data-why': item.why, class: `why-${item.why}` },
        el('td', {}, item.why), el('td', {}, item.detail || ''), el('td', {}, el('code', {}, o.id)),
        el('td', {}, o.state), el('td', {}, o.rider_id || '–'), el('td', {}, age(o.created_at)), actions(o, key)),
      actionForm(`${key}:${o.id}`, o, 7)].filter(Boolean);
    });
    fill($('attention'), attentionRows, 7, 'nothing needs attention');

    const orderRows = latest.orders.flatMap((o) => [
      el('tr', { 'data-order': o.id, 'data-state': o.state },
        el('td', {}, el('code', {}, o.id)), el('td', { class: 'state' }, o.state), el('td', {}, o.station_id || '–'),
        el('td', { class: 'rider' }, o.rider_id || '–'), el('td', {}, items(o.items)), el('td', {}, age(o.created_at)),
        actions(o, 'orders')),
      actionForm(`orders:${o.id}`, o, 7)].filter(Boolean));
    fill($('orders'), orderRows, 7, 'no live orders');
  }

  function renderDeadLetters() {
    const letterRows = latest.deadLetters.map((d) => el('tr', { 'data-event': d.event_id, 'data-order': d.order_id },
      el('td', {}, el('code', {}, d.event_id)), el('td', {}, d.topic), el('td', {}, el('code', {}, d.order_id)),
      el('td', {}, d.order_state || '–'), el('td', {}, d.deliveries), el('td', {}, clock(d.dead_at)),
      el('td', { class: 'actions' }, el('button', { type: 'button', class: 'replay', onclick: () => replay(d) }, 'Replay'))));
    fill($('dead-letters'), letterRows, 7, 'no dead letters');
  }

  async function replay(letter) {
    try {
      const result = await api('POST', '/v1/ops/dead-letters/replay', { event_id: letter.event_id });
      say(result.replayed
        ? `Event ${letter.event_id} (${letter.topic}) replayed: ${result.status}.`
        : `Event ${letter.event_id} was not dead any more (${result.status}): nothing sent.`);
      await refresh();
    } catch (error) {
      if (error.status !== 401) say(`Replaying ${letter.event_id} failed (${error.message}).`, true);
    }
  }

  function renderStations(stations) {
    const rows = stations.map((s) => {
      const holds = [s.sensor_hold && `sensor: ${s.sensor_hold}`, s.ops_hold && `ops: ${s.ops_hold}`].filter(Boolean);
      return el('tr', { 'data-station': s.id, class: `standing-${s.standing}` },
        el('td', {}, el('code', {}, s.id)), el('td', {}, s.name), el('td', {}, s.standing),
        el('td', {}, s.monitored ? 'yes' : 'no'), el('td', {}, holds.join('; ') || '–'),
        el('td', {}, s.stock.map((line) => `${line.spec} ${line.on_hand} / ${line.locked}`).join(', ') || '–'),
        el('td', {}, s.telemetry_at ? `${age(s.telemetry_at)} ago` : '–'));
    });
    fill($('stations'), rows, 7, 'no stations');
  }

  /** Stations, riders and live orders on an equirectangular projection
   * around their bounding box (longitude scaled by cos(latitude)). */
  function renderMap(stations, riders, orders) {
    const svg = $('map');
    const ns = 'http://www.w3.org/2000/svg';
    const points = [
      ...stations.map((s) => s.location),
      ...riders.filter((r) => r.location).map((r) => r.location),
      ...orders.map((o) => o.location),
    ];
    const shape = (name, attrs, title) => {
      const node = document.createElementNS(ns, name);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      const label = document.createElementNS(ns, 'title');
      label.textContent = title;
      node.append(label);
      return node;
    };
    if (points.length === 0) {
      svg.replaceChildren();
      return;
    }
    const lats = points.map((p) => p.lat);
    const lons = points.map((p) => p.lon);
    const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
    const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
    const spanX = Math.max((maxLon - minLon) * kx, 1e-3);
    const spanY = Math.max(maxLat - minLat, 1e-3);
    const [width, height, pad] = [800, 500, 20];
    const scale = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
    const x = (p) => pad + (p.lon - minLon) * kx * scale;
    const y = (p) => height - pad - (p.lat - minLat) * scale;
    const shapes = [
      ...orders.map((o) => shape('rect', {
        x: x(o.location) - 4, y: y(o.location) - 4, width: 8, height: 8, class: 'order',
        transform: `rotate(45 ${x(o.location)} ${y(o.location)})`,
      }, `order ${o.id} (${o.state})`)),
      ...riders.filter((r) => r.location).map((r) => shape('circle', {
        cx: x(r.location), cy: y(r.location), r: 3, class: `rider ${r.status}`, 'data-rider': r.id,
      }, `${r.id} ${r.name}: ${r.status}${r.active_order_id ? ` on ${r.active_order_id}` : ''}`)),
      ...stations.map((s) => shape('rect', {
        x: x(s.location) - 6, y: y(s.location) - 6, width: 12, height: 12, class: `station ${s.standing}`,
      }, `${s.id} ${s.name}: ${s.standing}`)),
    ];
    svg.replaceChildren(...shapes);
    const counts = { available: 0, assigned: 0, offline: 0 };
    for (const r of riders) counts[r.status] = (counts[r.status] || 0) + 1;
    $('rider-counts').textContent = `(${counts.available} available, ${counts.assigned} on an order, ${counts.offline} off duty)`;
  }

  async function refreshTracked() {
    if (!tracked) return;
    const order = await api('GET', `/v1/orders/${encodeURIComponent(tracked)}`);
    $('tracked').hidden = false;
    $('tracked-id').textContent = order.id;
    $('tracked-state').textContent = order.state;
    $('tracked-state').dataset.state = order.state;
    $('tracked-timeline').replaceChildren(...order.timeline.map((t) => el('li', { 'data-state': t.state },
      `${t.state} ${clock(t.at)}${t.detail ? ` (${t.detail})` : ''}`)));
  }

  let refreshing = null;
  let queued = null;

  /**
   * Reads every panel afresh, one read at a time. What it resolves to was
   * read after the call: when a read is under way (it may have started
   * before the change the caller just made), one more follows it, shared by
   * every caller that asked meanwhile.
   */
  function refresh() {
    if (!refreshing) {
      refreshing = load().finally(() => {
        refreshing = null;
      });
      return refreshing;
    }
    if (!queued) {
      queued = refreshing.then(() => {
        queued = null;
        return refresh();
      });
    }
    return queued;
  }

  async function load() {
    try {
      const [window24h, today, attention, orders, deadLetters, stations, riders] = await Promise.all([
        api('GET', '/v1/stats'),
        api('GET', `/v1/stats?since=${startOfToday()}`),
        api('GET', '/v1/ops/attention'),
        api('GET', '/v1/ops/orders?state=live&limit=200'),
        api('GET', '/v1/ops/dead-letters?limit=100'),
        all('/v1/ops/stations', 'stations'),
        all('/v1/ops/riders', 'riders'),
      ]);
      availableRiders = riders.filter((r) => r.status === 'available' && r.standing === 'active');
      latest = { attention: attention.items, orders: orders.orders, deadLetters: deadLetters.dead_letters };
      renderStates(window24h.orders_by_state);
      renderServiceLevels(today.steps);
      if (openForms.size === 0) renderOrderTables();
      renderDeadLetters();
      renderStations(stations);
      renderMap(stations, riders, orders.orders);
      await refreshTracked();
      $('refreshed').textContent = `updated ${new Date().toLocaleTimeString()}`;
      $('refreshed').dataset.at = String(Date.now());
    } catch (error) {
      if (error.status !== 401) say(`Refresh failed (${error.message}); retrying.`, true);
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = $('auto').checked ? setInterval(refresh, REFRESH_MS) : null;
  }

  // --- phone orders ----------------------------------------------------------

  function idempotencyKey() {
    if (crypto.randomUUID) return `desk-${crypto.randomUUID()}`;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `desk-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  async function placeOrder(event) {
    event.preventDefault();
    const form = event.target;
    const value = (name) => form.elements[name].value.trim();
    const body = {
      customer: {
        name: value('name'),
        phone: value('phone'),
        address: value('address'),
        location: { lat: Number(value('lat')), lon: Number(value('lon')) },
      },
      items: [{ spec: value('spec'), quantity: Number(value('quantity')) }],
    };
    if (value('note')) body.note = value('note');
    try {
      const placed = await api('POST', '/v1/orders', body, { 'Idempotency-Key': idempotencyKey() });
      tracked = placed.id;
      $('tracked').hidden = false;
      $('tracked-id').textContent = placed.id;
      $('tracked-state').textContent = placed.state;
      $('tracked-timeline').replaceChildren();
      say(`Order ${placed.id} taken: ${placed.state}.`);
      await refresh();
    } catch (error) {
      if (error.status !== 401) say(`The order was not taken (${error.message}).`, true);
    }
  }

  // --- session ---------------------------------------------------------------

  function show(signedIn) {
    $('signin').hidden = signedIn;
    $('desk').hidden = !signedIn;
    $('session').hidden = !signedIn;
  }

  function signOut(why) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(timer);
    show(false);
    $('signin-error').textContent = why || '';
  }

  async function signIn(event) {
    event.preventDefault();
    const candidate = $('token').value.trim();
    let response;
    try {
      response = await fetch('/v1/stats', { headers: { Authorization: `Bearer ${candidate}` } });
    } catch (error) {
      $('signin-error').textContent = `The deployment did not answer (${error.message}); try again.`;
      return;
    }
    if (!response.ok) {
      $('signin-error').textContent = response.status === 401 || response.status === 403
        ? 'That is not an ops token of this deployment.'
        : `The deployment answered ${response.status}; try again.`;
      return;
    }
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token').value = '';
    $('signin-error').textContent = '';
    start();
  }

  function start() {
    show(true);
    schedule();
    refresh();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', signIn);
    $('order-form').addEventListener('submit', placeOrder);
    $('signout').addEventListener('click', () => signOut());
    $('refresh').addEventListener('click', () => refresh());
    $('auto').addEventListener('change', schedule);
    if (token) start();
  });
})();
