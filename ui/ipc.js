// The one module that touches window.__TAURI__: commands out, events in.
const tauri = window.__TAURI__;

/** Calls a Tauri command of the app. */
export function call(command, args = {}) {
  return tauri.core.invoke(command, args);
}

/** Listens to an app event; the handler gets the payload. */
export function on(event, handler) {
  return tauri.event.listen(event, (e) => handler(e.payload));
}
