import { mosquittoVerifier, passwordFileLine, verifyMosquittoPassword } from './mosquitto-password';

describe('Mosquitto password verifiers', () => {
  it('verifies the password it was made from, and no other', async () => {
    const verifier = await mosquittoVerifier('a-meter-password-123', 101);
    expect(verifier).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(verifyMosquittoPassword(verifier, 'a-meter-password-123')).toBe(true);
    expect(verifyMosquittoPassword(verifier, 'a-meter-password-124')).toBe(false);
  });

  it('salts every verifier, so equal passwords give different lines', async () => {
    expect(await mosquittoVerifier('same-password-here', 101)).not.toEqual(
      await mosquittoVerifier('same-password-here', 101),
    );
  });

  it('reads the lines mosquitto_passwd writes', () => {
    // Written by `mosquitto_passwd -b passwd alice secretpassword123` (Mosquitto 2.0.11).
    const written =
      '$7$101$dALzwIBduoobbFXB$8QV4AnBot+jA4cF1tCAVb7rwaUNrDGZge0SEEdykOF8ZIzBI1f6LkpvDqkivzxIWf79fOTCHV0Ouh8A9vyFcrQ==';
    expect(verifyMosquittoPassword(written, 'secretpassword123')).toBe(true);
    expect(verifyMosquittoPassword(written, 'secretpassword124')).toBe(false);
  });

  it('refuses ids that would break the file format', async () => {
    const verifier = await mosquittoVerifier('a-meter-password-123', 1);
    expect(passwordFileLine('EM-0000001', verifier)).toBe(`EM-0000001:${verifier}\n`);
    expect(() => passwordFileLine('EM:1', verifier)).toThrow();
    expect(() => passwordFileLine('EM 1', verifier)).toThrow();
    expect(() => passwordFileLine('EM-1', 'plain')).toThrow();
  });
});
