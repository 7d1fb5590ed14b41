import { randomBytes, randomInt, randomUUID } from 'node:crypto';

/** Facts one sample call or chat shares across all its events, so they are consistent. */
export interface SampleContext {
  sessionId: string;
  callId: string;
  companyId: string;
  /** The DID (virtual number) dialled. */
  did: string;
  /** WhatsApp business number id. */
  whatsappNumberId: string;
  /** Caller, E.164. */
  customer: string;
  agent: { uuid: string; name: string; email: string; contact: string; extension: string };
  deptId: string;
  startedAt: Date;
  ringSeconds: number;
  talkSeconds: number;
}

const FIRST_NAMES = ['Asha', 'Ravi', 'Meera', 'Karan', 'Divya', 'Arjun'];

function digits(count: number): string {
  return Array.from({ length: count }, () => String(randomInt(10))).join('');
}

/** A fresh, random but self-consistent call or chat. */
export function newSampleContext(now = new Date()): SampleContext {
  const name = FIRST_NAMES[randomInt(FIRST_NAMES.length)] ?? 'Asha';
  const ringSeconds = 3 + randomInt(12);
  const talkSeconds = 20 + randomInt(300);
  return {
    sessionId: randomUUID(),
    callId: `call_${randomBytes(4).toString('hex')}`,
    companyId: `${5000 + randomInt(5000)}`,
    did: `+9180${digits(8)}`,
    whatsappNumberId: digits(15),
    customer: `+919${digits(9)}`,
    agent: {
      uuid: randomUUID(),
      name,
      email: `${name.toLowerCase()}@example.com`,
      contact: `+918${digits(9)}`,
      extension: `${10 + randomInt(90)}`,
    },
    deptId: `${100 + randomInt(900)}`,
    // The call started a little before now, so every timestamp of its flow lies in the past.
    startedAt: new Date(now.getTime() - (ringSeconds + talkSeconds + 5) * 1000),
    ringSeconds,
    talkSeconds,
  };
}

/** `base` plus `seconds`, as ISO-8601. */
export function at(base: Date, seconds: number): string {
  return new Date(base.getTime() + seconds * 1000).toISOString();
}
