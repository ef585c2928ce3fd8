/** The device CA store, or null when DEVICE_CA_DIR is unset (no certificates are issued). */
export const DEVICE_CA_STORE = Symbol('DEVICE_CA_STORE');
