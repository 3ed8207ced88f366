export { TsskitError } from "./errors.js";
export { TssWorker, generatePreParams } from "./worker-client.js";
export type * from "./worker-client.js";
export { connectClients, keygenSeat, signSeat } from "./session.js";
export type { Clients, Endpoints, Seat, KeygenOutcome } from "./session.js";
