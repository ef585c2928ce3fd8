// tsyringe, inside @peculiar/x509, refuses to load unless the Reflect metadata polyfill came
// first; so every module here (and every user of the lib) takes x509 from this file.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
