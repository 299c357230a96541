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

/** A target's `schema` key (`to.webhook.schema`, `to.republish.schema`): the receiver's contract. */
export const receiverSchemaKey = {
  type: 'string',
  minLength: 1,
  maxLength: 255,
  description:
    "The receiver's contract: a file in the schemas directory every body sent must match (after the transform); one that does not is dead-lettered as invalid.",
} as const;
