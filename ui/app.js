// Sickbay's dashboard. A placeholder until the dashboard reads the monitor's state over IPC.
const app = document.getElementById("app");

function render() {
  const message = document.createElement("p");
  message.className = "muted";
  message.textContent = "Dashboard coming soon.";
  app.replaceChildren(message);
}

render();
