// vid2vid demo page: joins a room as a viewer, shows the receiver's rebuilt video (and the
// sender's preview), live figures from the peers' stats messages, and free-view sliders.
// In a room where several people send, the receiver (or the vid2vid-call participant named by
// ?view=) rebuilds each of them: the page offers one video transceiver per participant and shows
// them as a grid of tiles, each with its name, state, fps and kbit/s from the stats.
// Plain browser JavaScript, no build step and no external resources: it works offline.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const roomMatch = location.pathname.match(/^\/room\/([^/]+)\/?$/);
  const ROOM = roomMatch ? decodeURIComponent(roomMatch[1]) : params.get("room") || "default";
  const TOKEN = params.get("token");
  // Host addresses we may offer (e.g. "127.0.0.1" for loopback-only demos and tests); empty: all.
  const ICE_ALLOW = (params.get("ice") || "").split(",").map((s) => s.trim()).filter(Boolean);
  const FATAL_CLOSE = { 4001: "bad or missing token", 4003: "room full", 4004: "too many rooms" };
  const PLOT_SECONDS = 60;
  const ICE_GATHER_MS = 2000;
  const VIEW_NAME = params.get("view"); // whose rebuilt faces to show; null: the first receiver
  const MAX_TILES = 16;

  const $ = (id) => document.getElementById(id);

  // Everything the page knows; exposed read-only on window.vid2vidDemo for tests and curious users.
  const state = {
    room: ROOM,
    peerId: null,
    signaling: "connecting",
    receiver: "waiting",
    sender: "waiting",
    call: null, // the receiver's call state from its stats: waiting, live or reconnecting
    model: null, // the receiver's model from its stats: {trained, config, source, fingerprint}
    framesPresented: 0,
    framesDecoded: 0,
    browserFps: 0,
    browserLegMs: null,
    receiverStats: null,
    senderStats: null,
    statsReceived: 0,
    view: { yaw: 0, pitch: 0, roll: 0 },
    viewMessagesSent: 0,
    history: [], // {t, motion, h264}
    pageWire: null, // {inKbps, outKbps}: this page's own transports, from getStats
    errors: [],
    tiles: [], // the receiver's participants from its stats: {name, tile, call, fps, ...}
  };

  const peers = new Map(); // peer_id -> {role, pc, control, video}
  const members = new Map(); // peer_id -> {role, name}, everyone in the room as the server told us
  const tileStreams = []; // tile index -> MediaStream of the receiver's track for that tile
  let tilesOffered = 1; // video transceivers in the offer to the receiver
  let ws = null;

  function setStatus(which, text) {
    state[which] = text;
    const el = $(`st-${which}`);
    el.textContent = text;
    el.dataset.state = text;
  }

  function logError(message) {
    state.errors.push(message);
    console.warn("vid2vid:", message);
  }

  // ---- signaling -------------------------------------------------------------------------------

  function connectSignaling() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ room: ROOM, role: "viewer" });
    if (TOKEN) query.set("token", TOKEN);
    ws = new WebSocket(`${proto}//${location.host}/ws?${query}`);
    setStatus("signaling", "connecting");
    ws.onopen = () => setStatus("signaling", "open");
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        logError(`signaling sent invalid JSON: ${err}`);
        return;
      }
      onSignalingMessage(message);
    };
    ws.onclose = (event) => {
      const fatal = FATAL_CLOSE[event.code];
      if (fatal) {
        setStatus("signaling", "refused");
        $("st-signaling").textContent = `refused: ${fatal}`;
        return;
      }
      setStatus("signaling", "closed");
      for (const peerId of [...peers.keys()]) dropPeer(peerId);
      setTimeout(connectSignaling, 2000);
    };
  }

  function sendSignal(to, data) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "signal", to, data }));
  }

  function onSignalingMessage(message) {
    switch (message.type) {
      case "welcome":
        state.peerId = message.peer_id;
        members.clear();
        for (const peer of message.peers) {
          members.set(peer.peer_id, { role: peer.role, name: peer.name || null });
          maybeConnect(peer.peer_id, peer.role);
        }
        break;
      case "peer-joined":
        members.set(message.peer_id, { role: message.role, name: message.name || null });
        maybeConnect(message.peer_id, message.role);
        break;
      case "peer-left":
        members.delete(message.peer_id);
        dropPeer(message.peer_id);
        connectAnyReceiver();
        break;
      case "signal":
        onSignal(message.from, message.data || {});
        break;
      case "error":
        logError(`signaling: ${message.message}`);
        break;
      default:
        logError(`unknown signaling message ${message.type}`);
    }
  }

  async function onSignal(from, data) {
    const peer = peers.get(from);
    if (!peer) return;
    try {
      if (data.sdp && data.sdp_type === "answer") {
        await peer.pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
      } else if (data.candidate) {
        await peer.pc.addIceCandidate({
          candidate: data.candidate,
          sdpMid: data.sdpMid,
          sdpMLineIndex: data.sdpMLineIndex,
        });
      } else if (data.bye) {
        dropPeer(from);
      }
    } catch (err) {
      logError(`signal from ${peer.role}: ${err}`);
    }
  }

  // ---- peer connections ------------------------------------------------------------------------

  // The page shows one receiving peer's rebuilt faces (a vid2vid-recv, or the vid2vid-call
  // participant named by ?view=) and one sender's preview.
  function pageRole(role) {
    if (role === "receiver" || role === "participant") return "receiver";
    return role === "sender" ? "sender" : null;
  }

  function maybeConnect(peerId, role) {
    const as = pageRole(role);
    if (as === null) return; // other viewers: nothing to see
    const member = members.get(peerId);
    if (peers.has(peerId) || !member || member.role !== role) return; // gone, or already on
    if (as === "receiver" && VIEW_NAME !== null && member.name !== VIEW_NAME) return;
    if (peerOf(as)) return; // one receiver and one sender's preview at a time
    connectPeer(peerId, as).catch((err) => logError(`offer to ${as}: ${err}`));
  }

  function connectAnyReceiver() {
    if (peerOf("receiver")) return;
    for (const [peerId, member] of members) if (pageRole(member.role) === "receiver") maybeConnect(peerId, member.role);
  }

  function filterCandidates(sdp) {
    if (!ICE_ALLOW.length) return sdp;
    return sdp
      .split("\r\n")
      .filter((line) => {
        if (!line.startsWith("a=candidate:")) return true;
        const address = line.split(" ")[4];
        return ICE_ALLOW.includes(address);
      })
      .join("\r\n");
  }

  function gathered(pc) {
    // aiortc takes the full SDP with candidates, so wait for gathering (bounded) and send once.
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const done = () => {
        if (pc.iceGatheringState === "complete") resolve();
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ICE_GATHER_MS);
    });
  }

  async function connectPeer(peerId, role) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const video = role === "receiver" ? $("rebuilt") : $("original");
    const peer = { role, pc, control: null, video };
    peers.set(peerId, peer);
    setStatus(role, "connecting");

    const videos = role === "receiver" ? tilesOffered : 1;
    for (let i = 0; i < videos; i++) pc.addTransceiver("video", { direction: "recvonly" });
    const control = pc.createDataChannel("control");
    peer.control = control;
    control.onopen = () => {
      if (role === "receiver") sendView();
    };
    control.onmessage = (event) => onControlMessage(role, event.data);

    pc.ontrack = (event) => {
      if (event.track.kind !== "video") return;
      const stream = event.streams[0] || new MediaStream([event.track]);
      const index = pc.getTransceivers().indexOf(event.transceiver);
      if (role === "receiver" && index >= 0) {
        tileStreams[index] = new MediaStream([event.track]);
        renderTiles();
      }
      if (role === "receiver" && index > 0) return; // tile 0 also plays in the big video
      video.srcObject = stream;
      video.play().catch(() => {}); // muted autoplay is allowed; ignore a race with a new stream
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      setStatus(role, s);
      if (s === "failed") {
        // Try again while the peer is still in the room.
        dropPeer(peerId);
        setTimeout(() => maybeConnect(peerId, members.get(peerId)?.role), 3000);
      }
    };

    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (peers.get(peerId) !== peer) return;
    sendSignal(peerId, { sdp: filterCandidates(pc.localDescription.sdp), sdp_type: "offer" });
  }

  function dropPeer(peerId) {
    const peer = peers.get(peerId);
    if (!peer) return;
    peers.delete(peerId);
    peer.pc.close();
    if (peer.video.srcObject) peer.video.srcObject = null;
    $(`${peer.video.id}-placeholder`).hidden = false;
    setStatus(peer.role, "waiting");
    // Its call state and model are no longer known (its last figures would read as current).
    if (peer.role === "receiver") {
      state.receiverStats = null;
      state.tiles = [];
      tileStreams.length = 0;
      renderTiles();
    }
    render();
  }

  function peerOf(role) {
    for (const peer of peers.values()) if (peer.role === role) return peer;
    return null;
  }

  // ---- stats from the peers --------------------------------------------------------------------

  function onControlMessage(role, raw) {
    if (typeof raw !== "string") return;
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (message.type !== "stats") return;
    state.statsReceived += 1;
    if (role === "receiver") {
      state.receiverStats = message;
      onTiles(message.participants);
      const t = performance.now() / 1000;
      const h264 = num(message.h264_kbps) ?? num((state.senderStats || {}).h264_kbps);
      state.history.push({ t, motion: num(message.motion_kbps), h264 });
      while (state.history.length && state.history[0].t < t - PLOT_SECONDS) state.history.shift();
    } else {
      state.senderStats = message;
    }
    render();
  }

  function num(value) {
    return typeof value === "number" && Number.isFinite(value) ? value : null;
  }

  function fmt(value, digits = 1) {
    return num(value) === null ? "–" : value.toFixed(digits);
  }

  function bytes(value) {
    if (num(value) === null) return "–";
    return value >= 1024 ? `${(value / 1024).toFixed(1)} KiB` : `${value} B`;
  }

  // ---- the grid: one tile per participant the receiver rebuilds ----------------------------------

  function onTiles(list) {
    const tiles = [];
    for (const p of Array.isArray(list) ? list : []) {
      const tile = Number.isInteger(p.tile) && p.tile >= 0 && p.tile < MAX_TILES ? p.tile : null;
      if (tile === null) continue;
      tiles.push({
        name: String(p.name ?? "").slice(0, 40),
        tile,
        call: ["waiting", "live", "reconnecting"].includes(p.call) ? p.call : "waiting",
        fps: num(p.fps),
        motion_kbps: num(p.motion_kbps),
        frames: num(p.frames),
      });
    }
    state.tiles = tiles;
    // More participants than video transceivers: offer again with one per tile.
    const needed = tiles.reduce((n, t) => Math.max(n, t.tile + 1), 1);
    const receiver = peerOf("receiver");
    if (receiver && needed > tilesOffered) {
      tilesOffered = needed;
      const peerId = [...peers].find(([, p]) => p === receiver)[0];
      dropPeer(peerId);
      maybeConnect(peerId, members.get(peerId)?.role);
      return;
    }
    renderTiles();
  }

  function renderTiles() {
    const grid = $("grid");
    const wanted = new Set(state.tiles.map((t) => `tile-${t.tile}`));
    for (const el of [...grid.querySelectorAll(".tile")]) if (!wanted.has(el.id)) el.remove();
    for (const t of state.tiles) {
      let el = $(`tile-${t.tile}`);
      if (!el) {
        el = document.createElement("figure");
        el.className = "tile";
        el.id = `tile-${t.tile}`;
        const video = document.createElement("video");
        video.autoplay = true;
        video.muted = true;
        video.playsInline = true;
        const caption = document.createElement("figcaption");
        for (const cls of ["tile-name", "tile-state", "tile-figures"]) {
          const part = document.createElement(cls === "tile-name" ? "b" : "span");
          part.className = cls;
          caption.append(part, " ");
        }
        el.append(video, caption);
        grid.append(el);
      }
      const video = el.querySelector("video");
      const stream = tileStreams[t.tile] || null;
      if (video.srcObject !== stream) {
        video.srcObject = stream;
        if (stream) video.play().catch(() => {});
      }
      el.dataset.name = t.name;
      el.querySelector(".tile-name").textContent = t.name;
      const st = el.querySelector(".tile-state");
      st.textContent = t.call;
      st.dataset.state = t.call;
      el.querySelector(".tile-figures").textContent =
        `${fmt(t.fps)} fps · ${fmt(t.motion_kbps, 2)} kbit/s`;
    }
    $("grid-empty").hidden = state.tiles.length > 0;
    $("grid-count").textContent = state.tiles.length ? `(${state.tiles.length})` : "";
  }

  function render() {
    const r = state.receiverStats || {};
    const s = state.senderStats || {};
    $("fig-kbps").textContent = fmt(r.motion_kbps ?? s.motion_kbps, 2);
    $("fig-wire").textContent =
      num(s.wire_kbps) === null ? "–" : `${fmt(s.wire_kbps, 2)} / ${fmt(s.wire_return_kbps, 2)} kbit/s`;
    $("fig-page-wire").textContent = state.pageWire
      ? `${fmt(state.pageWire.inKbps, 1)} / ${fmt(state.pageWire.outKbps, 1)} kbit/s`
      : "–";
    $("fig-keyframe").textContent = bytes(r.keyframe_bytes ?? s.keyframe_bytes);
    $("fig-fps").textContent = fmt(r.fps);
    $("fig-latency").textContent =
      num(r.latency_ms_p50) === null ? "–" : `${fmt(r.latency_ms_p50, 0)} / ${fmt(r.latency_ms_p95, 0)} ms`;
    $("fig-frames").textContent = num(r.frames) === null ? "–" : String(r.frames);
    renderReceiverState(r);
    // The receiver's figure (e.g. from a benchmark ratio) first, else the sender's live x264.
    const h = num(r.h264_kbps) !== null ? r : s;
    const motionKbps = num(r.motion_kbps) ?? num(s.motion_kbps);
    if (num(h.h264_kbps) !== null) {
      const ratio = motionKbps ? ` (${(h.h264_kbps / motionKbps).toFixed(0)}× the motion)` : "";
      $("fig-h264").textContent = `${fmt(h.h264_kbps, 1)} kbit/s${ratio}`;
      $("fig-h264-source").textContent = h.h264_source ? `source: ${h.h264_source}` : "";
    } else {
      const why = s.h264_source || r.h264_source;
      $("fig-h264").textContent = "–";
      $("fig-h264-source").textContent = why ? `not available: ${why}` : "";
    }
    if (state.senderStats) {
      const stages = s.ms_per_stage || {};
      const parts = Object.entries(stages).map(([k, v]) => `${k} ${fmt(v)}`);
      $("fig-sender").textContent =
        `${fmt(s.fps)} fps, ${fmt(s.motion_kbps, 2)} kbit/s` + (parts.length ? `; ms: ${parts.join(", ")}` : "");
    }
    $("fig-browser-fps").textContent = state.framesPresented ? fmt(state.browserFps) : "–";
    $("fig-browser-leg").textContent = state.browserLegMs === null ? "–" : `${fmt(state.browserLegMs, 0)} ms`;
    drawPlot();
  }

  // The receiver's call state, and a badge over its video while it runs untrained weights.
  function renderReceiverState(r) {
    const known = ["waiting", "live", "reconnecting"];
    state.call = known.includes(r.call) ? r.call : null;
    const call = $("st-call");
    call.textContent = state.call || "–";
    call.dataset.state = state.call || "none";
    const m = r.model && typeof r.model === "object" ? r.model : null;
    state.model = m && {
      trained: m.trained === true,
      config: String(m.config ?? ""),
      source: String(m.source ?? ""),
      fingerprint: String(m.fingerprint ?? ""),
    };
    const badge = $("model-badge");
    badge.hidden = !(state.model && !state.model.trained);
    badge.title = state.model ? `${state.model.source}, fingerprint ${state.model.fingerprint}` : "";
    $("fig-model").textContent = state.model
      ? `${state.model.config}, ${state.model.trained ? "trained" : "UNTRAINED"} ` +
        `(${state.model.source}; ${state.model.fingerprint})`
      : "–";
  }

  // ---- the kbit/s plot (plain canvas) ----------------------------------------------------------

  function drawPlot() {
    const canvas = $("plot");
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    const left = 40, right = 8, top = 8, bottom = 20;
    ctx.clearRect(0, 0, w, h);
    const points = state.history;
    const now = performance.now() / 1000;
    let ymax = 1;
    for (const p of points) ymax = Math.max(ymax, p.motion ?? 0, p.h264 ?? 0);
    ymax = niceCeil(ymax * 1.1);
    const mantissa = ymax / 10 ** Math.floor(Math.log10(ymax) + 1e-9);
    const divisions = Math.round(mantissa) === 2 ? 4 : 5; // steps of 0.2, 0.5 or 1 x 10^k
    const x = (t) => left + ((t - (now - PLOT_SECONDS)) / PLOT_SECONDS) * (w - left - right);
    const y = (v) => top + (1 - v / ymax) * (h - top - bottom);

    ctx.strokeStyle = "#2a313b";
    ctx.fillStyle = "#8c96a3";
    ctx.font = "10px sans-serif";
    ctx.lineWidth = 1;
    for (let i = 0; i <= divisions; i++) {
      const v = (ymax * i) / divisions;
      ctx.beginPath();
      ctx.moveTo(left, y(v));
      ctx.lineTo(w - right, y(v));
      ctx.stroke();
      ctx.fillText(Number.isInteger(v) ? String(v) : v.toFixed(1), 4, y(v) + 3);
    }
    ctx.fillText(`last ${PLOT_SECONDS} s, kbit/s`, left, h - 6);

    for (const [key, color] of [["h264", "#f08c4a"], ["motion", "#4ea1ff"]]) {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let started = false;
      for (const p of points) {
        if (p[key] === null) {
          started = false;
          continue;
        }
        if (started) ctx.lineTo(x(p.t), y(p[key]));
        else ctx.moveTo(x(p.t), y(p[key]));
        started = true;
      }
      ctx.stroke();
    }
  }

  function niceCeil(v) {
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // ---- frames shown here ----------------------------------------------------------------------

  const frameTimes = [];
  function watchFrames(video) {
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    const onFrame = (now) => {
      state.framesPresented += 1;
      frameTimes.push(now);
      while (frameTimes.length && frameTimes[0] < now - 1000) frameTimes.shift();
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  // Bytes on this page's transports (DTLS: what the peers' SCTP, RTP and RTCP cost), plus
  // 28 bytes of UDP/IPv4 header per packet where the browser counts packets.
  const IP_UDP_HEADER = 28;
  let lastTransport = null;
  async function pollWire() {
    let inBytes = 0;
    let outBytes = 0;
    for (const peer of peers.values()) {
      try {
        const report = await peer.pc.getStats();
        report.forEach((s) => {
          if (s.type !== "transport") return;
          inBytes += (s.bytesReceived || 0) + IP_UDP_HEADER * (s.packetsReceived || 0);
          outBytes += (s.bytesSent || 0) + IP_UDP_HEADER * (s.packetsSent || 0);
        });
      } catch (err) {
        logError(`getStats: ${err}`);
      }
    }
    const now = performance.now();
    if (lastTransport && now > lastTransport.t && inBytes >= lastTransport.inBytes) {
      const seconds = (now - lastTransport.t) / 1000;
      state.pageWire = {
        inKbps: ((inBytes - lastTransport.inBytes) * 8) / seconds / 1000,
        outKbps: (Math.max(0, outBytes - lastTransport.outBytes) * 8) / seconds / 1000,
      };
    }
    lastTransport = { t: now, inBytes, outBytes };
  }

  let lastInbound = null;
  async function pollBrowserStats() {
    await pollWire();
    const now = performance.now();
    while (frameTimes.length && frameTimes[0] < now - 1000) frameTimes.shift();
    state.browserFps = frameTimes.length;
    const peer = peerOf("receiver");
    if (peer) {
      try {
        const report = await peer.pc.getStats();
        report.forEach((s) => {
          if (s.type !== "inbound-rtp" || s.kind !== "video") return;
          state.framesDecoded = s.framesDecoded || 0;
          // Per-frame time spent here, over the last second: jitter buffer + decode.
          if (lastInbound && s.jitterBufferEmittedCount > lastInbound.jitterBufferEmittedCount) {
            const n = s.jitterBufferEmittedCount - lastInbound.jitterBufferEmittedCount;
            const jitter = (s.jitterBufferDelay - lastInbound.jitterBufferDelay) / n;
            const decodedFrames = s.framesDecoded - lastInbound.framesDecoded;
            const decode = decodedFrames > 0 ? (s.totalDecodeTime - lastInbound.totalDecodeTime) / decodedFrames : 0;
            state.browserLegMs = (jitter + decode) * 1000;
          }
          lastInbound = {
            jitterBufferEmittedCount: s.jitterBufferEmittedCount || 0,
            jitterBufferDelay: s.jitterBufferDelay || 0,
            framesDecoded: s.framesDecoded || 0,
            totalDecodeTime: s.totalDecodeTime || 0,
          };
        });
      } catch (err) {
        logError(`getStats: ${err}`);
      }
    }
    const video = $("rebuilt");
    $("rebuilt-size").textContent = video.videoWidth ? `(${video.videoWidth}×${video.videoHeight})` : "";
    render();
  }

  // ---- free view -------------------------------------------------------------------------------

  function sendView() {
    const peer = peerOf("receiver");
    if (!peer || !peer.control || peer.control.readyState !== "open") return;
    peer.control.send(JSON.stringify({ type: "view", ...state.view }));
    state.viewMessagesSent += 1;
  }

  let viewTimer = null;
  function onSlider() {
    for (const axis of ["yaw", "pitch", "roll"]) {
      const value = Number($(axis).value);
      state.view[axis] = value;
      $(`${axis}-out`).textContent = `${value}°`;
    }
    // At most ~20 messages a second while dragging; the last position always goes out.
    if (viewTimer === null) {
      sendView();
      viewTimer = setTimeout(() => {
        viewTimer = null;
        sendView();
      }, 50);
    }
  }

  for (const axis of ["yaw", "pitch", "roll"]) $(axis).addEventListener("input", onSlider);
  $("reset").addEventListener("click", () => {
    for (const axis of ["yaw", "pitch", "roll"]) $(axis).value = "0";
    onSlider();
  });

  // ---- start -----------------------------------------------------------------------------------

  window.vid2vidDemo = Object.freeze({
    get room() { return state.room; },
    get peerId() { return state.peerId; },
    get signaling() { return state.signaling; },
    get receiver() { return state.receiver; },
    get sender() { return state.sender; },
    get call() { return state.call; },
    get model() { return state.model && { ...state.model }; },
    get framesPresented() { return state.framesPresented; },
    get framesDecoded() { return state.framesDecoded; },
    get browserFps() { return state.browserFps; },
    get browserLegMs() { return state.browserLegMs; },
    get pageWire() { return state.pageWire && { ...state.pageWire }; },
    get lastStats() { return state.receiverStats && { ...state.receiverStats }; },
    get lastSenderStats() { return state.senderStats && { ...state.senderStats }; },
    get statsReceived() { return state.statsReceived; },
    get view() { return { ...state.view }; },
    get viewMessagesSent() { return state.viewMessagesSent; },
    get errors() { return [...state.errors]; },
    get tiles() { return state.tiles.map((t) => ({ ...t })); },
    get tilesOffered() { return tilesOffered; },
  });

  // A peer may answer without video (a sender started without --preview): keep the note up
  // until frames actually play.
  for (const id of ["rebuilt", "original"]) {
    $(id).addEventListener("playing", () => {
      $(`${id}-placeholder`).hidden = true;
    });
  }
  $("room-name").textContent = ROOM;
  document.title = `vid2vid — ${ROOM}`;
  watchFrames($("rebuilt"));
  setInterval(pollBrowserStats, 1000);
  drawPlot();
  connectSignaling();
})();
