import type { ContractCheck } from '../contracts/body.js';
import { invalid } from '../delivery/outcome.js';
import type { Handler } from './types.js';

/** Runs the route's contract before `next`: a body that breaks it never reaches the transform or target. */
export function withContract(check: ContractCheck, next: Handler): Handler {
  return function checkThenDeliver(d) {
    const broken = check(d);
    return broken === undefined ? next(d) : Promise.resolve(invalid(broken.reason, broken.schema));
  };
}
