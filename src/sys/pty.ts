/**
 * @module pty
 * Terminal calls for berth's shim: a pty's window size (on the master, as
 * runc's console socket hands it over), its line discipline's canonical mode
 * and EOF character, and new pty pairs (for tests and tools).
 */
import { ioctl, openPtyMaster } from './linux.js';

// asm-generic ioctl numbers (x64 and arm64).
const TCGETS = 0x5401;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
// struct termios (kernel): c_iflag, c_oflag, c_cflag, c_lflag (u32 each), c_line, c_cc[19].
const LFLAG_OFF = 12;
const CC_OFF = 17;
const VEOF = 4;
const ICANON = 0x2;
const TERMIOS_SIZE = 64;

/** A terminal's size in character cells. */
export interface Winsize {
  width: number;
  height: number;
}

/** ioctl(TIOCSWINSZ): `struct winsize { rows, cols, xpixel, ypixel }`; the slave side gets SIGWINCH. */
export function setWinsize(fd: number, width: number, height: number): void {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(height & 0xffff, 0);
  ws.writeUInt16LE(width & 0xffff, 2);
  ioctl(fd, TIOCSWINSZ, ws);
}

/** ioctl(TIOCGWINSZ), on either side of a pty. */
export function getWinsize(fd: number): Winsize {
  const ws = Buffer.alloc(8);
  ioctl(fd, TIOCGWINSZ, ws);
  return { height: ws.readUInt16LE(0), width: ws.readUInt16LE(2) };
}

/** The line discipline's settings that decide how an EOF is sent (on a master they are the slave's). */
export interface LineMode {
  /** ICANON: input is line-edited; the EOF character ends the reader's input. */
  canonical: boolean;
  /** c_cc[VEOF] (^D by default). */
  eof: number;
}

/** ioctl(TCGETS) on a pty (master or slave): canonical mode and the EOF character. */
export function lineMode(fd: number): LineMode {
  const t = Buffer.alloc(TERMIOS_SIZE);
  ioctl(fd, TCGETS, t);
  return { canonical: (t.readUInt32LE(LFLAG_OFF) & ICANON) !== 0, eof: t[CC_OFF + VEOF] ?? 4 };
}

/** A new pty pair: the master fd (O_RDWR, O_NOCTTY, close-on-exec) and the slave's path. */
export function openPty(): { master: number; slave: string } {
  return openPtyMaster();
}
