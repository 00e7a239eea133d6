/**
 * The media engine's UDP sockets. On Linux with the udpio addon built
 * (native/udpio, compiled by `npm ci`), every datagram carries the kernel's
 * receive time (SO_TIMESTAMPNS), what every socket read in one event-loop turn
 * reaches JS in one call (dispatch() below), and the sends of one pacer
 * wake-up are staged in one preallocated buffer and leave in ONE addon call
 * (sendBatch(): sendmmsg() per run of one socket, else sendto()), with no
 * allocation per packet; a send outside a batch is one direct sendto(); a fast
 * receiver (setFastReceiver) may take a datagram where it lies, before any
 * Buffer or rinfo is made for it (session.ts: a stream's steady state); else
 * node:dgram, with arrival times taken when the event loop delivers the packet
 * (0.07–0.2 ms of extra jitter on a loaded host: docs/decisions.md).
 *
 * `CALLPROBE_UDPIO=0` forces node:dgram (comparison runs, or a suspect addon).
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';
import type { RemoteInfo } from 'node:dgram';
import { monotonicOriginNs } from './clock.js';

/** A received datagram's source, plus its kernel receive time when known. */
export interface MediaRemoteInfo extends RemoteInfo {
  /** Kernel receive time on monotonicClock (ms); absent on node:dgram. */
  arrivalMs?: number;
}

/**
 * A received datagram. On udpio `rinfo` is one object per socket, refilled for
 * every datagram (no allocation per packet): read or copy its fields during
 * the call, do not keep the object. `msg` stays valid.
 */
export type MediaMessageListener = (msg: Buffer, rinfo: MediaRemoteInfo) => void;

/**
 * A received datagram where it lies in the addon's delivery buffer, for a fast receiver
 * (setFastReceiver): no Buffer, no rinfo is made for it. `buf[offset .. offset + length)` is
 * the datagram. One object per socket, refilled for every datagram: read it during the call.
 */
export interface DatagramView {
  buf: Buffer;
  offset: number;
  length: number;
  address: string;
  port: number;
  /** Kernel receive time on monotonicClock (ms). */
  arrivalMs: number;
}

/**
 * Takes a datagram before it becomes a 'message' event: returns true when it handled it, or
 * false, having changed nothing, to have it delivered as a 'message' as usual.
 */
export type FastReceiver = (datagram: DatagramView) => boolean;

/** What the media engine needs of a UDP socket (node:dgram's Socket has it too). */
export interface MediaSocket {
  on(event: 'message', listener: MediaMessageListener): this;
  on(event: 'error', listener: (err: Error) => void): this;
  off(event: 'message', listener: MediaMessageListener): this;
  off(event: 'error', listener: (err: Error) => void): this;
  send(msg: Uint8Array, port: number, address: string, callback?: (error: Error | null) => void): void;
  close(callback?: () => void): this;
  address(): { address: string; family: string; port: number };
  /** True when send() has copied the bytes out by the time it returns, so the caller may reuse its buffer. */
  readonly sendsSynchronously?: boolean;
  /**
   * Told where the signalling says this socket's packets come from (and the remote SSRC when
   * known): a shared-port channel (shared-port.ts) recognises its stream by it. Others ignore it.
   */
  expectRemote?(address: string, port: number, ssrc?: number): void;
  /** SO_RCVBUF (node:dgram and udpio sockets have it). */
  setRecvBufferSize?(bytes: number): void;
  /**
   * The receive fast path (udpio, and shared-port channels over it): `fn` sees each datagram
   * first, in place; undefined removes it. Absent on node:dgram (every datagram is a 'message').
   */
  setFastReceiver?(fn: FastReceiver | undefined): void;
}

/**
 * Emits 'message' on a socket-like emitter: its single listener called directly (emit()
 * would build an argument array per packet), else emit(). `_events` is EventEmitter's table.
 */
export function deliverMessage(target: EventEmitter, msg: Buffer, rinfo: MediaRemoteInfo): void {
  const listener = (target as unknown as { _events: Record<string, unknown> })._events.message;
  if (typeof listener === 'function') (listener as MediaMessageListener).call(target, msg, rinfo);
  else target.emit('message', msg, rinfo);
}

type Handle = object;
type Dispatcher = (payloads: Buffer, meta: Float64Array, count: number, addresses: string[]) => void;
interface UdpIoBinding {
  setDispatcher(fn: Dispatcher): void;
  open(family: 4 | 6, address: string, port: number, id: number, onError: (errno: number, syscall: string) => void): Handle;
  send(handle: Handle, bytes: Uint8Array, port: number, address: string): number;
  slot(handle: Handle): number;
  parseAddress(family: 4 | 6, address: string, out: Int32Array): boolean;
  sendBatch(bytes: Uint8Array, meta: Int32Array, count: number): number;
  localPort(handle: Handle): number;
  /** IP TOS / traffic class of a udpio socket or any fd; 0 or -errno (absent in addons built before it). */
  setTos?(target: Handle | number, tos: number): number;
  /** SO_RCVBUF of a udpio socket; the size now, or -errno (absent in addons built before it). */
  setRecvBuffer?(handle: Handle, bytes: number): number;
  close(handle: Handle): void;
  monotonicNs(): number;
  timerOpen(fn: () => void): Handle;
  timerArm(timer: Handle, absMonotonicNs: number): void;
  timerClose(timer: Handle): void;
}

/** Open udpio sockets by the id the addon tags their datagrams with. */
const byId = new Map<number, UdpioSocket>();
let nextId = 1;

let loaded: { binding: UdpIoBinding | undefined; reason: string } | undefined;

function load(): { binding: UdpIoBinding | undefined; reason: string } {
  if (loaded) return loaded;
  if (process.env.CALLPROBE_UDPIO === '0') {
    loaded = { binding: undefined, reason: 'disabled by CALLPROBE_UDPIO=0' };
  } else if (process.platform !== 'linux') {
    loaded = { binding: undefined, reason: `udpio is Linux-only (platform ${process.platform})` };
  } else {
    // Same relative place from src/rtp (tsx) and dist/rtp (built).
    const path = new URL('../../native/udpio/build/Release/udpio.node', import.meta.url).pathname;
    try {
      const binding = createRequire(import.meta.url)(path) as UdpIoBinding;
      binding.setDispatcher(dispatch);
      loaded = { binding, reason: 'loaded' };
    } catch (err) {
      loaded = { binding: undefined, reason: `udpio addon not loadable (${(err as Error).message.split('\n')[0]}); run \`npm run build:native\`` };
    }
  }
  return loaded;
}

/** Which socket implementation media uses, and why (for `--version`-style diagnostics and tests). */
export function udpBackend(): { name: 'udpio' | 'dgram'; reason: string } {
  const { binding, reason } = load();
  return { name: binding ? 'udpio' : 'dgram', reason };
}

/** udpio sockets of this process not yet closed (0 without the addon). */
export function openUdpioSockets(): number {
  return byId.size;
}

/** The addon's own CLOCK_MONOTONIC reading in ms on monotonicClock (tests check the clocks agree). */
export function udpioMonotonicMs(): number | undefined {
  const binding = load().binding;
  return binding ? (binding.monotonicNs() - monotonicOriginNs) / 1e6 : undefined;
}

/** A one-shot timer on monotonicClock with sub-millisecond precision (a timerfd). */
export interface PreciseTimer {
  /** Fires once at `atMs` on monotonicClock (at once if that has passed); re-arming replaces the deadline. */
  arm(atMs: number): void;
  disarm(): void;
  close(): void;
}

/**
 * A precise timer from the udpio addon, or undefined without it. Node's own
 * timers run on a millisecond loop clock and fire up to ~1 ms late; this one
 * wakes at the deadline (the pacer sleeps on it instead of spinning). It never
 * keeps the process alive by itself.
 */
export function createPreciseTimer(fn: () => void): PreciseTimer | undefined {
  const binding = load().binding;
  if (!binding) return undefined;
  const handle = binding.timerOpen(fn);
  return {
    arm: (atMs) => binding.timerArm(handle, Math.max(1, atMs * 1e6 + monotonicOriginNs)),
    disarm: () => binding.timerArm(handle, 0),
    close: () => binding.timerClose(handle),
  };
}

/** Int32 fields per staged datagram (native/udpio/udpio.c SEND_FIELDS): slot, offset, length, port, address ×4, result. */
const SEND_FIELDS = 9;
const STAGE_BYTES = 256 * 1024;
const STAGE_PACKETS = 4096;

/**
 * The send batch: datagrams staged between beginSendBatch() and
 * endSendBatch() (one pacer wake-up) leave in one addon call. The buffers are
 * allocated once; staging copies the bytes, so the caller may reuse its buffer
 * at once, as with a direct send.
 */
const batch = {
  depth: 0,
  count: 0,
  used: 0,
  bytes: new Uint8Array(0),
  meta: new Int32Array(0),
  sockets: [] as (UdpioSocket | undefined)[],
};

/** Parsed destination addresses (16 bytes as 4 int32), per family; bounded. */
const parsed: [Map<string, Int32Array>, Map<string, Int32Array>] = [new Map(), new Map()];

function parsedAddress(binding: UdpIoBinding, family: 4 | 6, address: string): Int32Array | undefined {
  const cache = parsed[family === 6 ? 1 : 0];
  let out = cache.get(address);
  if (out === undefined) {
    out = new Int32Array(4);
    if (!binding.parseAddress(family, address, out)) return undefined;
    if (cache.size >= 1024) cache.clear();
    cache.set(address, out);
  }
  return out;
}

/**
 * From here to the matching endSendBatch(), udpio sends without a callback are
 * staged instead of sent (nests; only the outermost end sends). The pacer
 * wraps each wake-up in it. No-op without the addon.
 */
export function beginSendBatch(): void {
  batch.depth++;
}

/** Sends what was staged since the outermost beginSendBatch(), in one addon call. */
export function endSendBatch(): void {
  if (batch.depth > 0) batch.depth--;
  if (batch.depth === 0) flushSendBatch();
}

function flushSendBatch(): void {
  const count = batch.count;
  if (count === 0) return;
  batch.count = 0;
  batch.used = 0;
  const binding = load().binding;
  const failures = binding ? binding.sendBatch(batch.bytes, batch.meta, count) : count;
  for (let i = 0; failures > 0 && i < count; i++) {
    const rc = binding ? (batch.meta[i * SEND_FIELDS + 8] as number) : -9;
    const socket = batch.sockets[i];
    if (rc < 0 && socket) socket.sendFailed(rc);
  }
  batch.sockets.fill(undefined, 0, count);
}

function errnoError(errno: number, syscall: string, detail?: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  const err = new Error(`${syscall} ${code}${detail ? ` ${detail}` : ''}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  return err;
}

/** Fields per datagram in the addon's meta array (see native/udpio/udpio.c). */
const META_FIELDS = 6;

/**
 * Everything the addon read in one event-loop turn, from every socket: one
 * Buffer of payloads and (id, offset, length, port, address index, arrival ns)
 * per datagram. Each message is a view into that Buffer, which is never reused.
 */
function dispatch(payloads: Buffer, meta: Float64Array, count: number, addresses: string[]): void {
  // No send batch around this loop: the pacer, polled from the receive path,
  // must send what is due now, not when the whole delivery is done.
  for (let i = 0; i < count; i++) {
    const m = i * META_FIELDS;
    const socket = byId.get(meta[m] as number);
    if (!socket) continue; // closed since the read
    const offset = meta[m + 1] as number;
    const length = meta[m + 2] as number;
    const address = addresses[meta[m + 4] as number] ?? '';
    const fast = socket.fast;
    // Only while the owner's is the one 'message' listener: another (a capture, a counter) must see every datagram.
    if (fast !== undefined && typeof (socket as unknown as { _events: Record<string, unknown> })._events.message === 'function') {
      const view = socket.view;
      view.buf = payloads;
      view.offset = offset;
      view.length = length;
      view.address = address;
      view.port = meta[m + 3] as number;
      view.arrivalMs = ((meta[m + 5] as number) - monotonicOriginNs) / 1e6;
      if (fast(view)) continue;
    }
    socket.deliver(payloads.subarray(offset, offset + length), address, meta[m + 3] as number, meta[m + 5] as number);
  }
}

/** A bound UDP socket on the udpio addon; events and send() as node:dgram's. */
export class UdpioSocket extends EventEmitter implements MediaSocket {
  private readonly binding: UdpIoBinding;
  private readonly handle: Handle;
  private readonly family: 'IPv4' | 'IPv6';
  private readonly boundAddress: string;
  private readonly id = nextId++;
  private readonly slot: number;
  private readonly familyNumber: 4 | 6;
  /** Refilled for every datagram (see MediaMessageListener). */
  private readonly rinfo: MediaRemoteInfo & { arrivalMs: number };
  private closed = false;
  /** @internal the fast receiver (setFastReceiver) and its view, for dispatch(). */
  fast: FastReceiver | undefined;
  readonly view: DatagramView = { buf: Buffer.alloc(0), offset: 0, length: 0, address: '', port: 0, arrivalMs: 0.5 };
  /** send() is one synchronous sendto(): the kernel has the bytes when it returns. */
  readonly sendsSynchronously = true;

  /** Binds synchronously; throws the bind error (code EADDRINUSE, …) as dgram reports it. */
  constructor(binding: UdpIoBinding, type: 'udp4' | 'udp6', address: string, port: number) {
    super();
    this.binding = binding;
    this.family = type === 'udp6' ? 'IPv6' : 'IPv4';
    this.boundAddress = address;
    this.familyNumber = type === 'udp6' ? 6 : 4;
    this.rinfo = { address: '', family: this.family, port: 0, size: 0, arrivalMs: 0.5 }; // 0.5: a double field from the start
    this.handle = binding.open(this.familyNumber, address, port, this.id, this.onError);
    // An addon built from an older udpio.c (a tree not rebuilt since) has no
    // send batch: this socket then sends directly, as before.
    this.slot = typeof binding.slot === 'function' ? binding.slot(this.handle) : -1;
    byId.set(this.id, this);
  }

  /** @internal from dispatch(): one datagram for this socket. */
  deliver(buf: Buffer, address: string, port: number, monoNs: number): void {
    const rinfo = this.rinfo;
    rinfo.address = address;
    rinfo.port = port;
    rinfo.size = buf.length;
    rinfo.arrivalMs = (monoNs - monotonicOriginNs) / 1e6;
    deliverMessage(this, buf, rinfo);
  }

  private readonly onError = (errno: number, syscall: string): void => {
    this.emit('error', errnoError(errno, syscall));
  };

  /** @internal a staged send failed (from the batch flush). */
  sendFailed(rc: number): void {
    const err = errnoError(rc, 'send');
    process.nextTick(() => this.emit('error', err));
  }

  /** Stages the datagram in the current send batch; false when it must go directly. */
  private stage(msg: Uint8Array, port: number, address: string): boolean {
    if (batch.depth === 0 || this.slot < 0 || msg.length > STAGE_BYTES) return false;
    const addr = parsedAddress(this.binding, this.familyNumber, address);
    if (addr === undefined) return false; // a direct send reports EINVAL
    if (batch.bytes.length === 0) {
      batch.bytes = new Uint8Array(STAGE_BYTES);
      batch.meta = new Int32Array(STAGE_PACKETS * SEND_FIELDS);
      batch.sockets = new Array<UdpioSocket | undefined>(STAGE_PACKETS).fill(undefined);
    }
    if (batch.count === STAGE_PACKETS || batch.used + msg.length > STAGE_BYTES) flushSendBatch();
    const i = batch.count++;
    const m = i * SEND_FIELDS;
    const meta = batch.meta;
    batch.bytes.set(msg, batch.used);
    meta[m] = this.slot;
    meta[m + 1] = batch.used;
    meta[m + 2] = msg.length;
    meta[m + 3] = port;
    meta[m + 4] = addr[0] as number;
    meta[m + 5] = addr[1] as number;
    meta[m + 6] = addr[2] as number;
    meta[m + 7] = addr[3] as number;
    meta[m + 8] = 0;
    batch.sockets[i] = this;
    batch.used += msg.length;
    return true;
  }

  send(msg: Uint8Array, port: number, address: string, callback?: (error: Error | null) => void): void {
    if (callback === undefined && !this.closed && this.stage(msg, port, address)) return;
    const rc = this.closed ? -9 /* EBADF */ : this.binding.send(this.handle, msg, port, address);
    const err = rc < 0 ? errnoError(rc, 'send', `${address}:${port}`) : null;
    if (callback) process.nextTick(callback, err);
    else if (err) process.nextTick(() => this.emit('error', err));
  }

  address(): { address: string; family: string; port: number } {
    return { address: this.boundAddress, family: this.family, port: this.binding.localPort(this.handle) };
  }

  setFastReceiver(fn: FastReceiver | undefined): void {
    this.fast = fn;
  }

  /** SO_RCVBUF (node:dgram's name for it); the kernel caps it at net.core.rmem_max. */
  setRecvBufferSize(bytes: number): void {
    if (typeof this.binding.setRecvBuffer === 'function') this.binding.setRecvBuffer(this.handle, bytes);
  }

  /** @internal the IP TOS byte (rtp/dscp.ts); 0 or -errno. */
  setTos(tos: number): number {
    return typeof this.binding.setTos === 'function' ? this.binding.setTos(this.handle, tos) : -38; // ENOSYS: an older addon
  }

  /** Idempotent; the callback runs once the socket is closed. */
  close(callback?: () => void): this {
    if (!this.closed) {
      // What this socket staged goes out first: its slot is free once it is closed.
      if (batch.count > 0) flushSendBatch();
      this.closed = true;
      byId.delete(this.id);
      this.binding.close(this.handle);
      process.nextTick(() => this.emit('close'));
    }
    if (callback) process.nextTick(callback);
    return this;
  }
}

/** A udpio socket bound to address:port, or undefined when the addon is not in use. */
export function bindUdpio(type: 'udp4' | 'udp6', address: string, port: number): UdpioSocket | undefined {
  const binding = load().binding;
  return binding ? new UdpioSocket(binding, type, address, port) : undefined;
}

/**
 * The IP TOS byte (DSCP << 2) of a socket through the addon: a udpio socket by its handle,
 * node's own dgram/net sockets by their fd. 0, or -errno (-38 ENOSYS without the addon).
 */
export function setTos(socket: object, fd: number | undefined, tos: number): number {
  if (socket instanceof UdpioSocket) return socket.setTos(tos);
  const binding = load().binding;
  if (binding === undefined || typeof binding.setTos !== 'function') return -38;
  return fd === undefined ? -9 /* EBADF */ : binding.setTos(fd, tos);
}
