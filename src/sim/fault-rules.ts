// Failure injection: rules that make matching calls fail, with a probability drawn from a seeded
// generator whose state is saved with the rule, so a restarted farm fails the same calls.
import { drawFloat, seededState, type RandomState } from '../domain/seeded-random';
import { badRequest, notFound, SimFault } from './errors';
import { SIM_OPERATIONS, type FailureRule, type FailureRuleInit, type SimErrorBody } from './protocol';

export interface Rule extends FailureRuleInit {
  readonly id: string;
  fired: number;
  /** State of the rule's random generator. */
  rng: RandomState;
}

/** The rules as the state file keeps them. */
export interface SavedRules {
  readonly ruleSeq: number;
  readonly rules: readonly Rule[];
}

function checkRule(init: FailureRuleInit): void {
  if (!init || typeof init !== 'object') throw badRequest('a failure rule must be an object');
  if (init.operation !== undefined && !(SIM_OPERATIONS as readonly string[]).includes(init.operation)) {
    throw badRequest(`unknown operation ${init.operation}; known: ${SIM_OPERATIONS.join(', ')}`);
  }
  if (init.probability !== undefined && !(init.probability >= 0 && init.probability <= 1)) {
    throw badRequest('probability must be between 0 and 1');
  }
  if (init.times !== undefined && !(Number.isInteger(init.times) && init.times > 0)) {
    throw badRequest('times must be a positive integer');
  }
  if (init.kind !== undefined && init.kind !== 'error' && init.kind !== 'unreachable') {
    throw badRequest('kind must be error or unreachable');
  }
}

function matches(rule: Rule, operation: string, hostId: string, vm: string): boolean {
  return (
    (rule.operation === undefined || rule.operation === operation) &&
    (rule.host === undefined || rule.host === hostId) &&
    (rule.vm === undefined || rule.vm === vm)
  );
}

/** Draws whether a matching call fails; advances the rule's generator. */
function strikes(rule: Rule): boolean {
  if (rule.probability === undefined || rule.probability >= 1) return true;
  const draw = drawFloat(rule.rng);
  rule.rng = draw.next;
  return draw.value < rule.probability;
}

/** What a call that `rule` makes fail answers: the host's error, or no answer at all. */
export function injectedFault(rule: Rule, operation: string, hostId: string): SimFault {
  if (rule.kind === 'unreachable') {
    return new SimFault(503, { code: 'unreachable', host: hostId, message: rule.message ?? `${hostId} did not answer`, rule: rule.id });
  }
  return new SimFault(500, injectedError(rule, operation));
}

/** The error a failed operation ends with. */
export function injectedError(rule: Rule, operation: string): SimErrorBody {
  return {
    code: 'failed',
    message: rule.message ?? `injected failure of ${operation}`,
    transient: rule.transient ?? false,
    rule: rule.id,
  };
}

export class FaultRules {
  private rules: Rule[] = [];
  private seq = 0;

  /** The first rule that fires for this call, consumed; undefined when none does. */
  fire(operation: string, hostId: string, vm: string): Rule | undefined {
    for (const rule of this.rules) {
      if (!matches(rule, operation, hostId, vm) || !strikes(rule)) continue;
      rule.fired++;
      if (rule.times !== undefined && rule.fired >= rule.times) this.rules = this.rules.filter((r) => r !== rule);
      return rule;
    }
    return undefined;
  }

  add(init: FailureRuleInit): FailureRule {
    checkRule(init);
    const id = `rule-${++this.seq}`;
    const seed = init.seed ?? this.seq;
    const rule: Rule = {
      operation: init.operation,
      host: init.host,
      vm: init.vm,
      probability: init.probability,
      seed,
      times: init.times,
      message: init.message,
      kind: init.kind,
      transient: init.transient,
      id,
      fired: 0,
      rng: seededState(seed),
    };
    this.rules.push(rule);
    return view(rule);
  }

  remove(id: string): void {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    if (this.rules.length === before) throw notFound(`no failure rule ${id}`);
  }

  clear(): void {
    this.rules = [];
  }

  list(): FailureRule[] {
    return this.rules.map(view);
  }

  saved(): SavedRules {
    return { ruleSeq: this.seq, rules: this.rules };
  }

  /** Restores saved rules; older files kept a 32-bit generator state, which now seeds a new generator. */
  restore(saved: Partial<SavedRules>): void {
    this.seq = saved.ruleSeq ?? 0;
    this.rules = (saved.rules ?? []).map((r) => {
      const rng: unknown = r.rng;
      return { ...r, rng: typeof rng === 'number' ? seededState(rng) : r.rng };
    });
  }
}

function view(rule: Rule): FailureRule {
  const { rng: _rng, ...rest } = rule;
  return rest;
}
