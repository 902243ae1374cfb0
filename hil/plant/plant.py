"""The simulated spacecraft: one object the harness steps and the executive senses.

``Plant.step(dt, actuators)`` advances orbit, power and thermal physics; ``sensors()``
is what the executive reads through the HAL; ``world()`` is the truth for the ground
emulator and the status line; ``summary()`` is the mission's outcome. No I/O and no
wall clock: time is the profile's epoch plus the sum of the steps.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from flightsw.hal import Actuators, Sensors
from hil.plant.battery import Battery, BatteryFlow
from hil.plant.contacts import Pass
from hil.plant.ephemeris import Chunk, Ephemeris, FineGrid
from hil.plant.forecast import Forecast
from hil.plant.history import SCALAR_FIELDS, History
from hil.plant.limits import Limit, describe_all
from hil.plant.power import array_available_w, balance_bus
from hil.plant.profile import Profile
from hil.plant.thermal import KELVIN, ThermalNetwork

J_PER_WH = 3600.0


class Drive(NamedTuple):
    """The part of the actuators that moves the physics of a step: equal drives from
    equal states give equal steps, to the last bit (what a lookahead relies on)."""

    payload_w: float
    """Electrical power of the payload (never NaN: see :meth:`Plant.payload_power_w`)."""
    heaters_on: tuple[str, ...]
    """Names of the heaters commanded on, in the profile's order."""
    radio_tx_on: bool


class _Pending(NamedTuple):
    """What :meth:`Plant.settle` needs of the step :meth:`Plant.advance` made."""

    dt_s: float
    chunk: Chunk
    i: int
    available_w: float
    battery_c: float
    heater_w: float
    demand_w: float
    load_w: float
    brownout: bool


class _Outlook(NamedTuple):
    """Where the spacecraft is at ``elapsed_s`` and what comes next (both outputs use it)."""

    elapsed_s: float
    sun: float
    station: int
    elev: float
    lat: float
    lon: float
    alt: float
    beta: float
    next_pass: Pass | None
    next_umbra: tuple[float, float] | None


class PhysicsState(NamedTuple):
    """Everything :meth:`Plant.advance` changes, to put a plant back as it was."""

    elapsed_s: float
    battery_energy_j: float
    temps_k: tuple[float, ...]
    thermal_radiated_j: float
    thermal_input_j: float
    thermal_substeps: int
    energy_j: tuple[float, float, float, float]
    flow: BatteryFlow
    array_w: float
    array_avail_w: float
    load_w: float
    payload_w: float
    pending: _Pending | None


class Plant:
    """Orbit, sun, contacts, power and thermal of one spacecraft profile."""

    def __init__(
        self,
        profile: Profile,
        *,
        epoch_utc_s: float | None = None,
        record: bool = True,
        geometry_step_s: float = 1.0,
    ) -> None:
        self.profile = profile
        self.epoch_utc_s = profile.epoch_utc_s if epoch_utc_s is None else float(epoch_utc_s)
        self.elapsed_s = 0.0
        self.ephemeris = Ephemeris(profile, self.epoch_utc_s)
        self.grid = FineGrid(self.ephemeris, geometry_step_s)
        self.forecast = Forecast(self.ephemeris)
        self.battery = Battery(profile.battery)
        self.thermal = ThermalNetwork(profile.thermal)
        names = self.thermal.names
        self._i_payload = names.index("payload")
        self._i_avionics = names.index("avionics")
        self._i_battery = names.index("battery")
        self._i_radiator = names.index("radiator")
        self._i_array = names.index("array")
        self._heaters = [(h.name, names.index(h.node), h.power_w) for h in profile.heaters]
        self.station_names = list(self.ephemeris.network.names)
        self.history: History | None = (
            History(names, self.station_names, self.epoch_utc_s) if record else None
        )
        # one row of the history, in SCALAR_FIELDS order (see _record)
        h = self.history
        self._appends = [h.columns[name].append for name in SCALAR_FIELDS] if h is not None else []
        self._temp_appends = [h.temps_c[n].append for n in names] if h is not None else []
        self._act = Actuators()
        self._flow: BatteryFlow = self.battery.idle()
        self._array_w = 0.0
        self._array_avail_w = 0.0
        self._load_w = 0.0
        self._payload_w = 0.0
        self._pending: _Pending | None = None
        self._look: _Outlook | None = None
        # Energy bookkeeping (J): electrical bus and thermal network.
        self.energy_in_j = 0.0  # drawn from the array
        self.energy_out_j = 0.0  # delivered to loads
        self.energy_lost_j = 0.0  # battery I^2R and (in)efficiency
        self.energy_env_j = 0.0  # absorbed sun, albedo, Earth IR (all nodes)
        self._stored0_j = self.battery.energy_j
        self._thermal0_j = self.thermal.stored_j()
        self._mode_changes = 0
        self._last_mode = ""
        self._min_soc = self.battery.soc_frac
        self._max_temps_k = list(self.thermal.temps_k)
        self._limits = self._make_limits()
        self._node_limits = self._node_limit_pairs()

    # ------------------------------------------------------------------ setup
    def _make_limits(self) -> list[Limit]:
        self._soc_limit = Limit(
            "battery SoC", "%", 100.0 * self.profile.flight["battery_soc_floor_frac"], above=False
        )
        spec = self.profile.battery
        # checked only on steps that offer the pack charge while it is not full: the
        # charger refuses it outside this range (DESIGN.md: no charging below 0 C)
        self._charge_cold = Limit("battery charge-offered temperature", "C",
                                  spec.charge_min_temp_c, above=False)
        self._charge_hot = Limit("battery charge-offered temperature", "C",
                                 spec.charge_max_temp_c, above=True)
        # 100 % of the demanded load is served unless the bus browns out and sheds
        self._brownout = Limit("bus brownout: load served", "%", 100.0, above=False)
        return [self._soc_limit, self._charge_cold, self._charge_hot, self._brownout]

    def _node_limit_pairs(self) -> list[tuple[int, Limit]]:
        pairs: list[tuple[int, Limit]] = []
        for i, node in enumerate(self.profile.thermal.nodes):
            high = node.max_temp_c
            if node.name == "payload":
                high = self.profile.flight["payload_temp_max_c"]
            if high is not None:
                pairs.append((i, Limit(f"{node.name} temperature", "C", high, above=True)))
            if node.min_temp_c is not None:
                low = Limit(f"{node.name} temperature", "C", node.min_temp_c, above=False)
                pairs.append((i, low))
        self._limits.extend(lim for _, lim in pairs)
        return pairs

    # --------------------------------------------------------------- time
    @property
    def time_utc_s(self) -> float:
        return self.epoch_utc_s + self.elapsed_s

    @property
    def orbit_period_s(self) -> float:
        return self.ephemeris.orbit.period_s

    # --------------------------------------------------------------- physics
    def payload_power_w(self, act: Actuators) -> float:
        """Electrical power (= heat) of the payload for what it reports doing."""
        if not act.payload_on:
            return 0.0
        frac = act.payload_activity_frac
        frac = 0.0 if not frac == frac else min(max(frac, 0.0), 1.0)  # NaN -> idle
        loads = self.profile.loads
        return loads.payload_idle_w + frac * (loads.payload_max_w - loads.payload_idle_w)

    def drive(self, act: Actuators) -> Drive:
        """What of ``act`` moves the physics (the rest is only reported)."""
        on = act.heaters_on
        heaters = tuple([name for name, _node, _w in self._heaters if on.get(name)]) if on else ()
        return Drive(self.payload_power_w(act), heaters, bool(act.radio_tx_on))

    def step(self, dt_s: float, act: Actuators) -> None:
        """Advance the physics by ``dt_s`` seconds under the commanded actuators."""
        self.advance(dt_s, self.drive(act))
        self.settle(act)

    def advance(self, dt_s: float, drive: Drive) -> None:
        """The physics of one step: what the next sensor sample needs, and no more.

        The step's books (limits, extremes, history, the reported mode) wait for
        :meth:`settle`, so a lockstep shell can send the executive its next TICK first;
        until then the plant refuses another step and a summary."""
        if not dt_s > 0.0:
            raise ValueError(f"dt_s must be > 0, got {dt_s!r}")
        if self._pending is not None:
            raise RuntimeError("the previous step is not settled (Plant.settle)")
        chunk, i = self.grid.locate(self.elapsed_s + 0.5 * dt_s)  # geometry at mid-step
        temps = self.thermal.temps_k
        loads = self.profile.loads

        available = array_available_w(
            self.profile.array, chunk.array_base_w[i], temps[self._i_array] - KELVIN
        )
        heater_w = 0.0
        heater_nodes: list[tuple[int, float]] = []
        if drive.heaters_on:
            for name, node, power in self._heaters:
                if name in drive.heaters_on:
                    heater_w += power
                    heater_nodes.append((node, power))
        radio_w = loads.radio_rx_w
        if drive.radio_tx_on and chunk.station_idx[i] >= 0:
            radio_w = loads.radio_tx_w  # the transmitter keys up only with a station in view
        demand = {
            "payload": drive.payload_w,
            "heaters": heater_w,
            "radio": radio_w,
            "avionics": loads.avionics_w,
        }
        battery_c = temps[self._i_battery] - KELVIN
        bus = balance_bus(available, demand, self.battery, dt_s, battery_c)
        served = bus.served

        heat = list(chunk.env_w[i])
        heat[self._i_array] -= bus.array_used_w  # electricity leaves the array as work
        heat[self._i_payload] += served["payload"]
        heat[self._i_avionics] += served["avionics"] + served["radio"]
        heat[self._i_battery] += bus.battery.loss_w
        if heater_nodes:
            scale = served["heaters"] / heater_w if heater_w > 0.0 else 0.0
            for node, power in heater_nodes:
                heat[node] += power * scale
        env_w = sum(chunk.env_w[i])
        self.thermal.step(dt_s, heat)

        self.elapsed_s += dt_s
        self.energy_in_j += bus.array_used_w * dt_s
        self.energy_out_j += bus.load_w * dt_s
        self.energy_lost_j += bus.battery.loss_w * dt_s
        self.energy_env_j += env_w * dt_s
        self._flow = bus.battery
        self._array_w = bus.array_used_w
        self._array_avail_w = available
        self._load_w = bus.load_w
        self._payload_w = served["payload"]
        self._pending = _Pending(dt_s, chunk, i, available, battery_c, heater_w,
                                 sum(demand.values()), bus.load_w, bus.brownout)

    def settle(self, act: Actuators) -> None:
        """The books of the step :meth:`advance` made, with the actuators it was made
        under (their ``report_*`` fields are what the history and the summary keep)."""
        p = self._pending
        if p is None:
            raise RuntimeError("no step to settle (Plant.advance first)")
        self._pending = None
        dt_s = p.dt_s
        temps = self.thermal.temps_k
        now = self.epoch_utc_s + self.elapsed_s
        if p.brownout:
            self._brownout.check(100.0 * p.load_w / p.demand_w, now, dt_s)
        elif self._brownout.open is not None:
            self._brownout.clear()
        if p.available_w > p.load_w and self.battery.energy_j < self.battery.capacity_j:
            self._charge_cold.check(p.battery_c, now, dt_s)  # a charge was offered
            self._charge_hot.check(p.battery_c, now, dt_s)
        elif self._charge_cold.open is not None or self._charge_hot.open is not None:
            self._charge_cold.clear()
            self._charge_hot.clear()
        if act.report_mode != self._last_mode:
            if self._last_mode:
                self._mode_changes += 1
            self._last_mode = act.report_mode
        self._act = act

        soc = self.battery.soc_frac
        if soc < self._min_soc:
            self._min_soc = soc
        self._soc_limit.check(100.0 * soc, now, dt_s)
        for k, lim in self._node_limits:
            lim.check(temps[k] - KELVIN, now, dt_s)
        maxes = self._max_temps_k
        for k, t in enumerate(temps):
            if t > maxes[k]:
                maxes[k] = t
        if self.history is not None:
            chunk, i = p.chunk, p.i
            self._record(
                chunk.sun_frac[i],
                chunk.beta_deg[i],
                chunk.station_idx[i],
                chunk.best_elev_deg[i],
                p.heater_w,
                act,
            )

    def physics_state(self) -> PhysicsState:
        """The state :meth:`advance` changes (a step it made and :meth:`settle` has not
        yet booked included), for :meth:`restore_physics`."""
        th = self.thermal
        return PhysicsState(
            self.elapsed_s, self.battery.energy_j, tuple(th.temps_k), th.radiated_j,
            th.input_j, th.substeps,
            (self.energy_in_j, self.energy_out_j, self.energy_lost_j, self.energy_env_j),
            self._flow, self._array_w, self._array_avail_w, self._load_w, self._payload_w,
            self._pending)

    def restore_physics(self, state: PhysicsState) -> None:
        """Undo the steps advanced since ``state`` was taken (none of them settled)."""
        th = self.thermal
        self.elapsed_s = state.elapsed_s
        self.battery.energy_j = state.battery_energy_j
        th.temps_k[:] = state.temps_k  # in place: callers may hold the list
        th.radiated_j = state.thermal_radiated_j
        th.input_j = state.thermal_input_j
        th.substeps = state.thermal_substeps
        (self.energy_in_j, self.energy_out_j, self.energy_lost_j,
         self.energy_env_j) = state.energy_j
        self._flow = state.flow
        self._array_w = state.array_w
        self._array_avail_w = state.array_avail_w
        self._load_w = state.load_w
        self._payload_w = state.payload_w
        self._pending = state.pending

    def _record(
        self, sun: float, beta: float, station: int, elev: float, heater_w: float, act: Actuators
    ) -> None:
        h = self.history
        assert h is not None
        flow = self._flow
        for append, value in zip(self._appends, (
            self.elapsed_s, sun, beta, self._array_w, self._array_avail_w, self._load_w,
            self._payload_w, heater_w, self.battery.soc_frac, flow.voltage_v, flow.current_a,
            act.payload_activity_frac if act.payload_on else 0.0, act.report_throttle_frac,
            1.0 if station >= 0 else 0.0, elev,
        ), strict=True):
            append(value)
        for append, t in zip(self._temp_appends, self.thermal.temps_k, strict=True):
            append(t - KELVIN)
        h.station_idx.append(station)
        h.modes.append(act.report_mode)

    # --------------------------------------------------------------- outputs
    def _outlook(self) -> _Outlook:
        """Geometry and forecasts now; computed once per step for sensors() and world()."""
        look = self._look
        if look is not None and look.elapsed_s == self.elapsed_s:
            return look
        chunk, i = self.grid.locate(self.elapsed_s)
        look = _Outlook(self.elapsed_s, chunk.sun_frac[i], chunk.station_idx[i],
                        chunk.best_elev_deg[i], chunk.lat_deg[i], chunk.lon_deg[i],
                        chunk.alt_km[i], chunk.beta_deg[i],
                        self.forecast.next_pass(self.elapsed_s),
                        self.forecast.next_umbra(self.elapsed_s))
        self._look = look
        return look

    def sensors(self) -> Sensors:
        """What the executive reads. ``next_*_in_s`` is 0 while in contact / in umbra,
        and NaN when nothing is forecast within two days (e.g. out of eclipse season)."""
        look = self._outlook()
        temps = self.thermal.temps_k
        station = look.station
        in_contact = station >= 0
        if in_contact:
            next_contact_in_s = 0.0
        else:
            p = look.next_pass
            next_contact_in_s = math.nan if p is None else max(p.aos_s - self.elapsed_s, 0.0)
        u = look.next_umbra
        return Sensors(
            battery_soc_frac=self.battery.soc_frac,
            battery_voltage_v=self._flow.voltage_v,
            battery_current_a=self._flow.current_a,
            battery_temp_c=temps[self._i_battery] - KELVIN,
            array_power_w=self._array_w,
            load_power_w=self._load_w,
            payload_temp_c=temps[self._i_payload] - KELVIN,
            avionics_temp_c=temps[self._i_avionics] - KELVIN,
            radiator_temp_c=temps[self._i_radiator] - KELVIN,
            sun_fraction=look.sun,
            in_contact=in_contact,
            contact_station=self.station_names[station] if in_contact else "",
            next_contact_in_s=next_contact_in_s,
            next_eclipse_in_s=math.nan if u is None else max(u[0] - self.elapsed_s, 0.0),
            lat_deg=look.lat,
            lon_deg=look.lon,
            compute_power_w=self._payload_w,
        )

    def world(self) -> dict[str, Any]:
        """Truth for the ground emulator and the status line; plain msgpack-able types."""
        look = self._outlook()
        station = look.station
        in_contact = station >= 0
        p = look.next_pass
        next_pass = None
        if p is not None:
            next_pass = {
                "station": p.station,
                "aos_utc_s": self.epoch_utc_s + p.aos_s if math.isfinite(p.aos_s) else None,
                "los_utc_s": self.epoch_utc_s + p.los_s,
                "max_elevation_deg": round(p.max_elevation_deg, 2),
            }
        umbra = look.next_umbra
        act = self._act
        return {
            "time_utc_s": self.time_utc_s,
            "elapsed_s": self.elapsed_s,
            "orbit_number": self.elapsed_s / self.orbit_period_s,
            "lat_deg": look.lat,
            "lon_deg": look.lon,
            "alt_km": look.alt,
            "sun_fraction": look.sun,
            "beta_deg": look.beta,
            "in_contact": in_contact,
            "station": self.station_names[station] if in_contact else "",
            "elevation_deg": look.elev if in_contact else None,
            "next_pass": next_pass,
            "next_eclipse_in_s": (None if umbra is None else max(umbra[0] - self.elapsed_s, 0.0)),
            "battery_soc_frac": self.battery.soc_frac,
            "battery_voltage_v": self._flow.voltage_v,
            "battery_current_a": self._flow.current_a,
            "array_power_w": self._array_w,
            "load_power_w": self._load_w,
            "payload_power_w": self._payload_w,
            "temps_c": {
                n: t - KELVIN for n, t in zip(self.thermal.names, self.thermal.temps_k, strict=True)
            },
            "mode": act.report_mode,
            "throttle_frac": act.report_throttle_frac,
            "jobs_done": act.report_jobs_done,
            "tiles_done": act.report_tiles_done,
            "payload_restarts": act.report_payload_restarts,
        }

    def summary(self) -> dict[str, Any]:
        """The outcome so far: energy books, extremes, limit violations, work reported."""
        if self._pending is not None:
            raise RuntimeError("the last step is not settled (Plant.settle)")
        act = self._act
        stored_delta = self.battery.energy_j - self._stored0_j
        violations = describe_all(self._limits)
        return {
            "profile": self.profile.name,
            "orbits_flown": self.elapsed_s / self.orbit_period_s,
            "sim_time_s": self.elapsed_s,
            "energy_in_wh": self.energy_in_j / J_PER_WH,
            "energy_out_wh": self.energy_out_j / J_PER_WH,
            "energy_lost_wh": self.energy_lost_j / J_PER_WH,
            "stored_delta_wh": stored_delta / J_PER_WH,
            "energy_balance_error_wh": (
                self.energy_in_j - self.energy_out_j - self.energy_lost_j - stored_delta
            )
            / J_PER_WH,
            "thermal_balance_error_j": self.thermal_balance_error_j(),
            "min_battery_soc_pct": 100.0 * self._min_soc,
            "max_temps_c": {
                n: t - KELVIN for n, t in zip(self.thermal.names, self._max_temps_k, strict=True)
            },
            "violations": violations,
            "limits": [lim.audit() for lim in self._limits],
            "mode_changes": self._mode_changes,
            "jobs_done": act.report_jobs_done,
            "tiles_done": act.report_tiles_done,
            "payload_restarts": act.report_payload_restarts,
        }

    def thermal_balance_error_j(self) -> float:
        """(inputs - radiated) - change of stored heat: zero to rounding if energy is kept."""
        delta = self.thermal.stored_j() - self._thermal0_j
        return self.thermal.input_j - self.thermal.radiated_j - delta
