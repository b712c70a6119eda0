// Sending and closing where the socket may already be gone. A dead socket's close event (or, for the Lobby, the
// next relay to it) cleans up; the caller has nothing more to do.

export function sendQuietly(ws: WebSocket, frame: string | ArrayBuffer): void {
  try {
    ws.send(frame);
  } catch {
    // gone
  }
}

export function closeQuietly(ws: WebSocket, code?: number, reason?: string): void {
  try {
    if (code === undefined) ws.close();
    else ws.close(code, reason);
  } catch {
    // Already closed, or the code was not ours to send: nothing left to do.
  }
}
