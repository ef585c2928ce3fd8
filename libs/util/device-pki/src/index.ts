export * from './certificates';
export * from './device-ca.store';
export * from './device-pki.error';
export * from './x509';
