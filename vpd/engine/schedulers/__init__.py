from .two_phase_poly_lr import TwoPhasePolyLR

__all__ = ['TwoPhasePolyLR']
