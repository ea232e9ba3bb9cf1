// @ts-check
// The Spikard chat page: an ES module the browser loads as it is (no bundler, no build step),
// type-checked by `tsc` against the client generated from the chat examples' AsyncAPI document
// (client.js and client.d.ts, from fixtures/asyncapi/chat.json by scripts/client.mjs): a
// change of the protocol that this page does not follow fails `tsc -p examples/chat`.
// It talks the chat protocol every Spikard chat example serves (Rust, Python, Node, Ruby):
//   connect  ws://HOST/rooms/ROOM?user=NAME
//   send     {"text": "..."}                          (1 to 500 characters)
//   receive  {"type": "join" | "leave", "user", "room", "members"}
//            {"type": "message", "user", "room", "text"}
//            {"type": "error", "code", "message", "errors": [{"path", "message"}]}
import { openChannel } from "./client.js";

/** @typedef {import("./client.js").Channels["/rooms/{room}"]["receive"]} Received */
/** @typedef {import("./client.js").Messages["rooms_room"]["error"]} ErrorEnvelope */

/** The element with this id (the page has them all). */
function $(/** @type {string} */ id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`no #${id} on the page`);
  return element;
}

/** The input with this id. */
function field(/** @type {string} */ id) {
  const element = $(id);
  if (!(element instanceof HTMLInputElement)) throw new Error(`#${id} is not an input`);
  return element;
}

/** @type {import("./client.js").TypedSocket<"/rooms/{room}"> | null} */
let socket = null;
/** @type {{name: string, room: string} | null} once joined */
let session = null;
let retryDelay = 250;

function setStatus(/** @type {boolean} */ online) {
  $("status").textContent = online ? "online" : "offline";
  $("status").className = `status ${online ? "online" : "offline"}`;
}

/**
 * @param {"message" | "notice"} kind
 * @param {string | null} user
 * @param {string} text
 */
function append(kind, user, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.dataset.kind = kind;
  if (user) {
    const who = document.createElement("span");
    who.className = "user";
    who.textContent = user;
    item.append(who);
  }
  item.append(document.createTextNode(text));
  $("log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

function showError(/** @type {ErrorEnvelope} */ envelope) {
  const details = envelope.errors.map((e) => `${e.path || "message"}: ${e.message}`);
  $("error").textContent = [envelope.message, ...details].join(" \u2014 ");
  $("error").dataset.code = envelope.code;
  $("error").hidden = false;
}

/** Show what the room sent: a member's message, a join or leave notice, or an error envelope. */
function receive(/** @type {Received} */ data) {
  if (data.type === "error") return showError(data);
  $("error").hidden = true;
  if (data.type === "message") return append("message", data.user, data.text);
  const verb = data.type === "join" ? "joined" : "left";
  append("notice", null, `${data.user} ${verb} (${data.members} here)`);
}

function connect() {
  if (!session) return;
  const base = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
  const room = openChannel(base, "/rooms/{room}", { room: session.room }, { user: session.name });
  socket = room;
  room.socket.addEventListener("open", () => {
    retryDelay = 250;
    setStatus(true);
  });
  room.onMessage(receive);
  room.socket.addEventListener("close", (event) => {
    setStatus(false);
    if (event.code === 1008 || event.code === 1003) {
      append("notice", null, `disconnected: ${event.reason || event.code}`);
      return;
    }
    // The server restarted or the network dropped: come back with a growing delay.
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  });
}

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  session = { name: field("name").value.trim(), room: field("room").value.trim() };
  $("join").hidden = true;
  $("chat").hidden = false;
  $("where").textContent = `${session.name} in #${session.room}`;
  connect();
});

$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!socket || socket.socket.readyState !== WebSocket.OPEN) return;
  // Sent as typed: the server validates (an empty or overlong message comes back as an error).
  socket.send({ text: field("text").value });
  field("text").value = "";
});
