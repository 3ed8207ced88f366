export { TsskitError, RpcError, IntegrityError, OverloadedError, StaleEpochError, RecoveryError, retryOverloaded, codeName, type RetryPolicy } from "./errors.js";
export type { RecoveryRequest, SealedDeviceInfo } from "./recovery.js";
export { TssClient } from "./tss-client.js";
export { TokenSource, expiryOf, TOKEN_REFRESH_MARGIN_MS } from "./token.js";
export type { TokenConfig } from "./token.js";
export { checkNewPassword, passwordStrength, WeakPasswordError, MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH, MIN_PASSWORD_BITS } from "./password.js";
export type { PasswordStrength, WeakPasswordCode } from "./password.js";
export type {
  TssClientConfig, CreateWalletOptions, SignOptions, Wallet, SignatureHex, WalletListing, ServerStatus, RefreshWalletOptions, ReshareWalletOptions,
  CreatedWallet, AccountWallet, RequestRecoveryOptions, RecoverWalletOptions, SettleStep, SettleRunOptions, SettledRun,
} from "./tss-client.js";
export type { ClientProgress, Phase, Queued, ReshareProgress, ResharePhase } from "./progress.js";
export { progressMapper, reshareProgressMapper } from "./progress.js";
export { loadTss, startTssWorkers, workerScriptUrl, resolveIntegrity } from "./tss-wasm-loader.js";
export type { Integrity, IntegrityDetails, PinnedResource } from "./integrity.js";
export type { LoaderOptions, TssPool } from "./tss-wasm-loader.js";
export { TssWorker, generatePreParams, generatePreParamsIntoPool } from "./worker-client.js";
export type * from "./worker-client.js";
export { connectClients, keygenSeat, signSeat, reshareSeat, recoverySeat, sameReshare } from "./session.js";
export type { Clients, Endpoints, Seat, KeygenOutcome, ReshareOffer, ReshareOutcome } from "./session.js";
export { ShareStorage, ShareExistsError, ShareNotFoundError, ShareChangedError, OlderBackupError, runHeld } from "./share-storage.js";
export type { StoredWallet, ShareStorageOptions, PendingShare, StoredRecoveryRequest, StoredRun } from "./share-storage.js";
export {
  WrongPasswordError, CorruptRecordError, BackupFormatError, EmptyPasswordError,
  protect, unprotect, parseBackup, inspectRecord, BACKUP_FORMAT, MIN_ITERATIONS, MAX_ITERATIONS,
} from "./backup.js";
export { PreParamsPool, PreParamsPoolClosedError, PreParamsEntryDroppedError, PREPARAMS_DB_NAME } from "./preparams-pool.js";
export type { PreParamsPoolOptions } from "./preparams-pool.js";
export {
  signMessageWith, signTypedDataWith, signTransactionWith, signDigestWith, checkTransaction,
  MAX_MESSAGE_BYTES, MAX_TYPED_DATA_BYTES, MAX_TRANSACTION_DATA_BYTES,
  MAX_ACCESS_LIST_ENTRIES, MAX_ACCESS_LIST_STORAGE_KEYS, MAX_CHAIN_ID, MAX_LEGACY_CHAIN_ID, EIP2294_MAX_CHAIN_ID,
} from "./eth.js";
export type {
  DigestSigner, Hex, SignableMessage, TypedDataDefinition, EthTransaction, Quantity,
  EthSignOptions, SignMessageOptions, SignTypedDataOptions, SignTransactionOptions,
} from "./eth.js";
export { parsePath, formatPath, normalizePath, legacyChainCode, walletChainCode, extendedPublicKey, deriveAddress, MAX_PATH_DEPTH, HARDENED_OFFSET } from "./hd.js";
export type { DerivedAddress } from "./hd.js";
