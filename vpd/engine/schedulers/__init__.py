from .fit_schedule import fit_schedule_to_run_length
from .two_phase_poly_lr import TwoPhasePolyLR

__all__ = ['TwoPhasePolyLR', 'fit_schedule_to_run_length']
