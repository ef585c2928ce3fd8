/** Check digits, so that generated EIDs and ICCIDs look like real ones to any validator. */

/** Luhn check digit (ITU-T E.118 ICCID) for the given digits. */
export function luhnCheckDigit(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    // Double every second digit counting from the right of the final number (check digit at 0).
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

export function isLuhnValid(number: string): boolean {
  return /^[0-9]{2,}$/.test(number) && luhnCheckDigit(number.slice(0, -1)) === number.slice(-1);
}

/** EID check digits (ISO 7064 MOD 97-10, as GSMA SGP.02 uses): the 32-digit number mod 97 is 1. */
export function eidWithCheckDigits(first30: string): string {
  if (!/^[0-9]{30}$/.test(first30)) throw new Error('an EID body is 30 digits');
  const remainder = Number((BigInt(first30) * 100n) % 97n);
  return `${first30}${String(98 - remainder).padStart(2, '0')}`;
}

export function isEidValid(eid: string): boolean {
  return /^[0-9]{32}$/.test(eid) && BigInt(eid) % 97n === 1n;
}

/** 19-digit ICCID: 89 (telecom) + 44 + 2-digit issuer code + 12-digit serial + Luhn digit. */
export function makeIccid(issuerCode: number, serial: number): string {
  if (!Number.isInteger(issuerCode) || issuerCode < 10 || issuerCode > 99)
    throw new Error('issuer code must be 10..99');
  if (!Number.isSafeInteger(serial) || serial < 0 || serial >= 1e12)
    throw new Error('ICCID serial must be 0..999999999999');
  const body = `8944${issuerCode}${String(serial).padStart(12, '0')}`;
  return `${body}${luhnCheckDigit(body)}`;
}
