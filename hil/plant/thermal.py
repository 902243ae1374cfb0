"""A lumped-capacitance thermal network: nodes, conductive links, radiation to space.

C_i dT_i/dt = Q_i + sum_j G_ij (T_j - T_i) - eps_i A_i sigma (T_i^4 - T_sink^4).

Integrated with explicit Euler, sub-stepped so each sub-step h stays below every node's
time constant C_i / (sum_j G_ij + 4 eps_i A_i sigma T_i^3) (half the stability limit, so
the response is also free of numerical overshoot). Energy is conserved by construction
of the scheme and checked: sum C_i dT_i = input - radiated, which the plant accounts.
A link may carry a thermostatic bypass valve (a pumped loop that stops cooling a node
that is already cold); its conductance then depends on that node's temperature, is
evaluated each sub-step, and is never more than the link's full conductance (so the
sub-step bound still holds).
"""

from __future__ import annotations

import math

from hil.plant.profile import ThermalSpec

SIGMA = 5.670374419e-8  # Stefan-Boltzmann, W m^-2 K^-4 (CODATA 2018)
KELVIN = 273.15
VALVE_LEAK_FRAC = 0.02  # a closed bypass valve still passes 2 % of the loop's conductance


class ThermalNetwork:
    """Temperatures of the nodes (K) and the integrator; inputs are heat per node (W)."""

    def __init__(self, spec: ThermalSpec) -> None:
        self.spec = spec
        self.names = [n.name for n in spec.nodes]
        self.capacity_j_per_k = [n.heat_capacity_j_per_k for n in spec.nodes]
        self.temps_k = [n.initial_temp_c + KELVIN for n in spec.nodes]
        n = len(self.names)
        eps_area = [0.0] * n
        for s in spec.surfaces:
            eps_area[self.names.index(s.node)] += s.emissivity * s.area_m2
        self.eps_area_m2 = eps_area
        self._rad_coeff = [SIGMA * ea for ea in eps_area]
        self.links = [
            (self.names.index(link.a), self.names.index(link.b), link.conductance_w_per_k)
            for link in spec.links
        ]
        self.conductance_sum = [0.0] * n
        for a, b, g in self.links:
            self.conductance_sum[a] += g
            self.conductance_sum[b] += g
        # thermostatic bypass valves: (link index, node a, closed K, 1 / band K)
        self.valves = [
            (k, self.names.index(link.a), link.valve_closed_c + KELVIN,
             1.0 / (link.valve_open_c - link.valve_closed_c))
            for k, link in enumerate(spec.links)
            if link.valve_closed_c is not None and link.valve_open_c is not None
        ]
        self.sink_t4 = spec.sink_temp_k**4
        self.radiated_j = 0.0  # to the sink, cumulative
        self.input_j = 0.0  # Q_i summed, cumulative
        self.substeps = 0

    def stored_j(self) -> float:
        """Thermal energy above 0 K (C T summed), for conservation checks."""
        return sum(c * t for c, t in zip(self.capacity_j_per_k, self.temps_k, strict=True))

    def max_substep_s(self) -> float:
        """Largest stable, non-oscillating Euler sub-step at the present temperatures."""
        h = math.inf
        for c, g, k, t in zip(
            self.capacity_j_per_k, self.conductance_sum, self._rad_coeff, self.temps_k, strict=True
        ):
            rate = g + 4.0 * k * t * t * t
            if rate > 0.0:
                h = min(h, c / rate)
        return h

    def time_constant_s(self, name: str, temp_c: float) -> float:
        """C / (links + linearised radiation) of one node at a temperature."""
        i = self.names.index(name)
        t = temp_c + KELVIN
        rate = self.conductance_sum[i] + 4.0 * self._rad_coeff[i] * t**3
        return self.capacity_j_per_k[i] / rate

    def valve_open_frac(self, temp_k: float, closed_k: float, inv_band: float) -> float:
        """A bypass valve's opening: linear across its band, never below the leak."""
        return min(max((temp_k - closed_k) * inv_band, VALVE_LEAK_FRAC), 1.0)

    def _valved_links(self) -> list[tuple[int, int, float]]:
        links = list(self.links)
        for k, node, closed_k, inv_band in self.valves:
            a, b, g = links[k]
            links[k] = (a, b, g * self.valve_open_frac(self.temps_k[node], closed_k, inv_band))
        return links

    def step(self, dt_s: float, heat_w: list[float]) -> None:
        """Advance ``dt_s`` with constant heat inputs per node."""
        n_sub = max(1, math.ceil(dt_s / self.max_substep_s() - 1e-9))
        h = dt_s / n_sub
        temps = self.temps_k
        caps = self.capacity_j_per_k
        rad = self._rad_coeff
        sink = self.sink_t4
        n = len(temps)
        radiated = 0.0
        links = self.links
        for _ in range(n_sub):
            flux = list(heat_w)
            if self.valves:
                links = self._valved_links()
            for a, b, g in links:
                f = g * (temps[b] - temps[a])
                flux[a] += f
                flux[b] -= f
            for i in range(n):
                t = temps[i]
                t2 = t * t
                q = rad[i] * (t2 * t2 - sink)
                flux[i] -= q
                radiated += q
            for i in range(n):
                temps[i] += h * flux[i] / caps[i]
        self.radiated_j += radiated * h
        self.input_j += sum(heat_w) * dt_s
        self.substeps += n_sub
