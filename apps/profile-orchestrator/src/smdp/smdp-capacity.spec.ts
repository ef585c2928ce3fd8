import { ordersPerMinute, smdpCapacityByCarrierSchema } from './smdp-capacity';

describe('SM-DP+ capacity per carrier', () => {
  it('reads carrierId:ordersPerMinute pairs and falls back to the default for other carriers', () => {
    const byCarrier = smdpCapacityByCarrierSchema.parse(' carrier-a:300, carrier-b:1200 ');
    expect(byCarrier).toEqual({ 'carrier-a': 300, 'carrier-b': 1200 });
    expect(ordersPerMinute('carrier-a', byCarrier, 600)).toBe(300);
    expect(ordersPerMinute('carrier-b', byCarrier, 600)).toBe(1200);
    expect(ordersPerMinute('carrier-c', byCarrier, 600)).toBe(600);
    expect(ordersPerMinute('constructor', byCarrier, 600)).toBe(600);
  });

  it('takes an empty or absent setting as no override', () => {
    expect(smdpCapacityByCarrierSchema.parse(undefined)).toEqual({});
    expect(smdpCapacityByCarrierSchema.parse('')).toEqual({});
  });

  it.each(['carrier-a', 'carrier-a:0', 'carrier-a:-5', 'carrier-a:1.5', 'a b:10'])(
    'refuses %p',
    (text) => {
      expect(smdpCapacityByCarrierSchema.safeParse(text).success).toBe(false);
    },
  );
});
