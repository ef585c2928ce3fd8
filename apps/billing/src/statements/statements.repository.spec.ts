import type { Statement } from '../api/api-schemas';
import { statementCsv } from './statements.repository';

const line: Statement['lines'][number] = {
  chargeId: 'M-1/2026-10/consumption/energy_import_wh/peak',
  period: '2026-10',
  servicePeriod: '2026-10',
  type: 'consumption',
  meterId: 'M-1',
  carrierId: null,
  customerId: 'CUST "17", north',
  register: 'energy_import_wh',
  band: 'peak',
  quantity: 12.5,
  unit: 'kWh',
  amountMinor: 475,
  currency: 'GBP',
  estimated: true,
  flags: ['estimated', 'register_decrease'],
  correctionOf: null,
  revision: 2,
};

describe('statementCsv', () => {
  it('writes a header and one RFC 4180 row per line, quoting what needs it', () => {
    const csv = statementCsv({
      subject: 'meter',
      id: 'M-1',
      period: '2026-10',
      status: 'open',
      lines: [line],
      totals: [],
      totalMinor: { GBP: 475 },
    });
    expect(csv.split('\r\n')).toEqual([
      'chargeId,period,servicePeriod,type,meterId,carrierId,customerId,register,band,quantity,unit,amountMinor,currency,estimated,flags,correctionOf,revision',
      'M-1/2026-10/consumption/energy_import_wh/peak,2026-10,2026-10,consumption,M-1,,"CUST ""17"", north",energy_import_wh,peak,12.5,kWh,475,GBP,true,estimated;register_decrease,,2',
      '',
    ]);
  });
});
