// Test harness: Reactor's published client (@reactor-team/js-sdk), unchanged, driven from a
// page. tests/server/test_server_browser.py bundles this with esbuild and calls window.harness.
import { Reactor } from "@reactor-team/js-sdk";

const state = {
  status: "disconnected",
  tracks: [],
  messages: [],
  runtimeMessages: [],
  errors: [],
  capabilities: null,
};

let reactor = null;

function readCode(videoId) {
  // Decode the frame counter (row 0, 16 bits) and state value (row 1, 8 bits) drawn by the
  // test model as 16x16 black/white blocks (tests/server/pixelcode.py).
  const video = document.getElementById(videoId);
  if (!video || video.videoWidth < 256) return null;
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0);
  const read = (row, bits) => {
    let n = 0;
    for (let i = 0; i < bits; i++) {
      const px = ctx.getImageData(i * 16 + 4, row * 16 + 4, 8, 8).data;
      let sum = 0;
      for (let p = 0; p < px.length; p += 4) sum += (px[p] + px[p + 1] + px[p + 2]) / 3;
      n = (n << 1) | (sum / (px.length / 4) > 127 ? 1 : 0);
    }
    return n;
  };
  return { counter: read(0, 16), value: read(1, 8) };
}

window.harness = {
  state,
  readCode,
  async connect(apiUrl, modelName) {
    reactor = new Reactor({ modelName, local: true, apiUrl });
    reactor.on("statusChanged", (s) => { state.status = s; });
    reactor.on("message", (m) => state.messages.push(m));
    reactor.on("runtimeMessage", (m) => state.runtimeMessages.push(m));
    reactor.on("error", (e) => state.errors.push(e));
    reactor.on("capabilitiesReceived", (c) => { state.capabilities = c; });
    reactor.on("trackReceived", (name, track, stream) => {
      state.tracks.push({ name, kind: track.kind });
      const el = document.createElement(track.kind === "video" ? "video" : "audio");
      el.id = `track-${name}`;
      el.autoplay = true;
      el.muted = true;
      el.playsInline = true;
      el.srcObject = stream;
      document.body.append(el);
    });
    await reactor.connect();
    return reactor.getStatus();
  },
  send(command, data, scope) {
    return reactor.sendCommand(command, data, scope);
  },
  async disconnect() {
    await reactor.disconnect();
    return reactor.getStatus();
  },
};
