export const EIM_KEY_STORE = Symbol('EIM_KEY_STORE');
