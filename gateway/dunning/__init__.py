"""Dunning: policies as data, legal computations and the pure decision engine.

Public entry points for the service layer (no I/O anywhere in this package):

- `policy.shipped_policies()`, `policy.policy_for(entity, claim_type, fiscal=...)`, `policy.load_policy(path)`
- `rules.decide(facts, policy, today=..., history=..., payments=..., holds=..., plan_state=...)` -> `Decision`
- `rules.term_end_for(policy, record)` once a step has been sent / delivered
- `rules.due_date_for(policy, issue_date, sent_on)`
- `payment_plan.propose_plan(...)`, `payment_plan.plan_status(...)`
- `legal.book_xix_lump_sum`, `legal.wik_collection_costs`, `legal.reference_rate_interest`
"""
