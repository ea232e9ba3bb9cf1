// The Spikard chat page: plain JavaScript, no build step. It talks the chat protocol every
// Spikard chat example serves (Rust, Python, Node, Ruby):
//   connect  ws://HOST/rooms/ROOM?user=NAME
//   send     {"text": "..."}                          (1 to 500 characters)
//   receive  {"type": "join" | "leave", "user", "room", "members"}
//            {"type": "message", "user", "room", "text"}
//            {"type": "error", "code", "message", "errors": [{"path", "message"}]}
"use strict";

const $ = (id) => document.getElementById(id);
let socket = null;
let session = null; // {name, room} once joined
let retryDelay = 250;

function setStatus(online) {
  $("status").textContent = online ? "online" : "offline";
  $("status").className = `status ${online ? "online" : "offline"}`;
}

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

function showError(envelope) {
  const details = (envelope.errors || []).map((e) => `${e.path || "message"}: ${e.message}`);
  $("error").textContent = [envelope.message, ...details].join(" \u2014 ");
  $("error").dataset.code = envelope.code;
  $("error").hidden = false;
}

function connect() {
  const { name, room } = session;
  const url = `ws://${location.host}/rooms/${encodeURIComponent(room)}?user=${encodeURIComponent(name)}`;
  socket = new WebSocket(url);
  socket.onopen = () => {
    retryDelay = 250;
    setStatus(true);
  };
  socket.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "error") return showError(data);
    $("error").hidden = true;
    if (data.type === "message") append("message", data.user, data.text);
    if (data.type === "join") append("notice", null, `${data.user} joined (${data.members} here)`);
    if (data.type === "leave") append("notice", null, `${data.user} left (${data.members} here)`);
  };
  socket.onclose = (event) => {
    setStatus(false);
    if (event.code === 1008 || event.code === 1003) {
      append("notice", null, `disconnected: ${event.reason || event.code}`);
      return;
    }
    // The server restarted or the network dropped: come back with a growing delay.
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  };
}

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  session = { name: $("name").value.trim(), room: $("room").value.trim() };
  $("join").hidden = true;
  $("chat").hidden = false;
  $("where").textContent = `${session.name} in #${session.room}`;
  connect();
});

$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  // Sent as typed: the server validates (an empty or overlong message comes back as an error).
  socket.send(JSON.stringify({ text: $("text").value }));
  $("text").value = "";
});
