import { randomInt } from 'node:crypto';
import { CliError } from '../errors.js';

/** docker's rule for container names (`--name`): a letter or digit, then letters, digits, `_`, `.`, `-`. */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * `--name` as docker checks it: one leading `/` is dropped (docker shows
 * names with it), the rest must match {@link NAME_PATTERN}. Answers the
 * name without the slash.
 */
export function validateName(name: string): string {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_PATTERN.test(bare)) {
    throw new CliError(
      `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  }
  return bare;
}

/** docker's conflict message for a name in use. */
export function nameConflict(name: string, id: string): CliError {
  return new CliError(
    `Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`,
  );
}

// berth's own word lists, in docker's shape (adjective_surname): the
// surnames are people of science and computing.
const ADJECTIVES = [
  'agile',
  'amazing',
  'bold',
  'brave',
  'bright',
  'busy',
  'calm',
  'clever',
  'cool',
  'crisp',
  'curious',
  'dazzling',
  'determined',
  'eager',
  'elegant',
  'epic',
  'fervent',
  'festive',
  'focused',
  'friendly',
  'gallant',
  'gentle',
  'happy',
  'hardcore',
  'heuristic',
  'hopeful',
  'jolly',
  'keen',
  'kind',
  'lucid',
  'magical',
  'modest',
  'nifty',
  'nimble',
  'noble',
  'optimistic',
  'patient',
  'peaceful',
  'practical',
  'quirky',
  'quiet',
  'relaxed',
  'serene',
  'sharp',
  'silly',
  'sleepy',
  'stoic',
  'sweet',
  'tender',
  'thirsty',
  'trusting',
  'upbeat',
  'vibrant',
  'vigilant',
  'wizardly',
  'wonderful',
  'xenodochial',
  'youthful',
  'zealous',
  'zen',
] as const;

const SURNAMES = [
  'agnesi',
  'babbage',
  'bardeen',
  'bohr',
  'boole',
  'cerf',
  'curie',
  'darwin',
  'dijkstra',
  'einstein',
  'euclid',
  'euler',
  'faraday',
  'fermat',
  'fermi',
  'feynman',
  'galois',
  'gauss',
  'goldberg',
  'hamilton',
  'hawking',
  'hopper',
  'hypatia',
  'jepsen',
  'johnson',
  'kepler',
  'knuth',
  'lamport',
  'liskov',
  'lovelace',
  'maxwell',
  'meitner',
  'mendel',
  'mirzakhani',
  'morse',
  'newton',
  'noether',
  'pascal',
  'pasteur',
  'perlman',
  'planck',
  'raman',
  'ritchie',
  'shannon',
  'sinoussi',
  'tesla',
  'thompson',
  'torvalds',
  'turing',
  'volta',
  'wiles',
  'wozniak',
  'yalow',
] as const;

/**
 * A docker-like random name, `adjective_surname`; with `retry` > 0 a digit
 * is appended (docker's GetRandomName does the same when a name is taken).
 */
export function randomName(retry = 0): string {
  const a = ADJECTIVES[randomInt(ADJECTIVES.length)];
  const s = SURNAMES[randomInt(SURNAMES.length)];
  return retry > 0 ? `${a}_${s}${randomInt(10)}` : `${a}_${s}`;
}
