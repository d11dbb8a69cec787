// The /verify page's camera scanner and paste box. Whatever is scanned or pasted (the
// certificate's QR link, or the seal alone) becomes this page's URL fragment, which verify.js
// checks in the browser: nothing is sent to the server. The browser's BarcodeDetector reads the
// camera where there is one; elsewhere jsQR (static/vendor/jsqr, loaded only then) does.

const section = document.getElementById("scan");
const video = document.getElementById("scan-video");
const startButton = document.getElementById("scan-start");
const stopButton = document.getElementById("scan-stop");
const note = document.getElementById("scan-note");
const pasteForm = document.getElementById("paste-form");
const pasteBox = document.getElementById("paste-text");
const text = (name) => section.dataset["text" + name] || "";

let stream = null;

function use(value) {
  const trimmed = value.trim();
  if (!trimmed) return false;
  const at = trimmed.indexOf("#");
  // A link keeps its fragment as it is (already URL-encoded); a bare seal is encoded here.
  const seal = at >= 0 ? trimmed.slice(at + 1) : encodeURIComponent(trimmed);
  if (!seal) return false;
  location.hash = seal;
  document.getElementById("verdict").scrollIntoView({ block: "center" });
  return true;
}

function loadJsQR() {
  if (window.jsQR) return Promise.resolve(window.jsQR);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = section.dataset.jsqrUrl;
    script.onload = () => resolve(window.jsQR);
    script.onerror = reject;
    document.head.appendChild(script);
  });
}

function stop() {
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  video.hidden = true;
  stopButton.hidden = true;
  startButton.hidden = false;
}

async function reader() {
  if ("BarcodeDetector" in window) {
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    return async () => {
      const codes = await detector.detect(video);
      return codes.length ? codes[0].rawValue : null;
    };
  }
  const jsQR = await loadJsQR();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return async () => {
    if (!video.videoWidth) return null;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    context.drawImage(video, 0, 0);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    const code = jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
    return code ? code.data : null;
  };
}

async function start() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    note.textContent = text("NoCamera");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch {
    note.textContent = text("NoCamera");
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  startButton.hidden = true;
  stopButton.hidden = false;
  note.textContent = text("Scanning");
  await video.play();
  const read = await reader();
  const tick = async () => {
    if (!stream) return;
    let value = null;
    try {
      value = await read();
    } catch {
      value = null;
    }
    if (value && use(value)) {
      note.textContent = "";
      stop();
      return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

startButton.addEventListener("click", start);
stopButton.addEventListener("click", () => {
  note.textContent = "";
  stop();
});
pasteForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!use(pasteBox.value)) note.textContent = text("Empty");
});
section.hidden = false;
