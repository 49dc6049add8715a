"""Offline plan: the real Pulumi program under Pulumi's mock runtime, no cloud, no CLI.

One way of running the program offline, used by `make plan` and by the tests alike:
`planner.run.run_program(stack)` returns every resource registration with its exact inputs and
options, the stack outputs and the wall time; `planner.policies.evaluate` runs the policy pack's
own policies over them.
"""
