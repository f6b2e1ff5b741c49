"""Faults: a catalogue of kinds, validated specs, shapes over time, and the ``--fault`` syntax."""
from rampsim.faults.catalogue import CATALOGUE, FaultKind, kind_named
from rampsim.faults.shapes import mean_profile, profile
from rampsim.faults.spec import Fault
from rampsim.faults.syntax import FaultError, check_faults, fault_fields, parse_fault, plan_faults

__all__ = ["CATALOGUE", "FaultKind", "kind_named", "Fault", "profile", "mean_profile", "FaultError", "parse_fault",
           "fault_fields", "plan_faults", "check_faults"]
