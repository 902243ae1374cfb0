"""Loading and running an ONNX model that has been checked against its model card.

A model is two files side by side: ``NAME.onnx`` and its card ``NAME.json`` (name,
version, SHA-256, input/output names and shapes, decision threshold). Loading:

1. reads the card and the model bytes, and refuses bytes whose SHA-256 differs from the
   card (a corrupt or tampered file never reaches onnxruntime; the hash is also the
   golden reference a future weight scrubber compares against);
2. creates the session *from those same bytes* (no re-read between check and use), on
   the best execution provider this board has (TensorRT, CUDA, else CPU);
3. checks the session's inputs and outputs against the card and runs a dry inference
   with the declared input shape. A GPU provider that fails here falls back to CPU and
   says why (:attr:`LoadedModel.fallback_reason`).

onnxruntime's exceptions stop here: they become :class:`~payload.errors.ModelError`.
The intra-op thread count defaults to 1 so the payload cannot starve the executive on a
two-core board; it is the knob the throttle will turn later.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flightsw.model_card import ModelCard as SharedCard
from flightsw.model_card import ModelCardError
from payload.errors import ModelError
from payload.model_weights import WeightBank

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_PATH = MODELS_DIR / "cloud_screen_v1.onnx"

# Best first. Azure/OpenVINO etc. are left out on purpose: they are not onboard hardware.
PREFERRED_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
CPU_PROVIDER = "CPUExecutionProvider"


@dataclass(frozen=True)
class ModelCard:
    """What a model promises: who it is, what it eats and emits, how to decide."""

    name: str
    version: str
    sha256: str
    input_name: str
    input_shape: tuple[int | str, ...]
    output_name: str
    output_shape: tuple[int | str, ...]
    threshold: float
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def model_id(self) -> str:
        """``name_vVERSION``, the label heartbeats and results carry."""
        return f"{self.name}_v{self.version}"

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "card") -> ModelCard:
        """Validate a parsed card; every problem is a :class:`ModelError` naming the field.
        The fields every card has are parsed by :class:`flightsw.model_card.ModelCard`
        (the one card record the dictionary and the store use); the payload adds the
        decision threshold."""
        try:
            card = SharedCard.from_json(data, source=source)
        except ModelCardError as exc:
            raise ModelError(exc.reason, **exc.details) from exc
        try:
            threshold = float(data["threshold"])
        except KeyError as exc:
            raise ModelError("model card lacks a field: threshold", card=source,
                             field="threshold") from exc
        except (TypeError, ValueError) as exc:
            raise ModelError(f"model card is malformed: threshold: {exc}",
                             card=source) from exc
        if not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
            raise ModelError("model card threshold must be in 0..1", card=source,
                             threshold=threshold)
        return cls(name=card.name, version=card.version, sha256=card.sha256,
                   input_name=card.input_name, input_shape=tuple(card.input_shape),
                   output_name=card.output_name, output_shape=tuple(card.output_shape),
                   threshold=threshold, raw=data)

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ModelError("model card not found", card=str(path)) from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError("model card unreadable", card=str(path), error=str(exc)) from exc
        return cls.from_dict(data, source=str(path))


def card_path_for(model_path: Path) -> Path:
    """The card that goes with a model file: same name, ``.json``."""
    return model_path.with_suffix(".json")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def choose_model_path(configured: Path | None, want_sha256: str = "") -> Path:
    """The model to load. Normally the configured one (default: the shipped one). When
    the supervisor asks for a hash (its *last known good* model, after repeated
    failures), whichever known model has that hash (the configured one, a model the
    onboard store keeps beside it, or the shipped one); if none has, the shipped model,
    which CI tests, so it is known good by construction."""
    configured_path = configured if configured is not None else DEFAULT_MODEL_PATH
    if not want_sha256:
        return configured_path
    # the onboard model store keeps every stored model as <sha256>.onnx beside active.onnx
    stored = configured_path.parent / f"{want_sha256.lower()}.onnx"
    for path in (configured_path, stored, DEFAULT_MODEL_PATH):
        try:
            if sha256_hex(path.read_bytes()) == want_sha256.lower():
                return path
        except OSError:
            continue
    return DEFAULT_MODEL_PATH


def choose_providers(available: list[str]) -> list[str]:
    """The providers to ask for, best first; CPU always last so there is a fallback."""
    chosen = [p for p in PREFERRED_PROVIDERS if p in available and p != CPU_PROVIDER]
    return [*chosen, CPU_PROVIDER]


class LoadedModel:
    """A verified, ready-to-run model. :meth:`infer` is the only way to run it."""

    def __init__(self, card: ModelCard, session: Any, path: Path, sha256: str,
                 fallback_reason: str = "", weights: WeightBank | None = None) -> None:
        self.card = card
        self.weights = weights
        """The weights the session computes with (None: a session built elsewhere)."""
        self.path = path
        self.sha256 = sha256
        self.fallback_reason = fallback_reason
        self._session = session
        providers = session.get_providers()
        self.provider: str = providers[0] if providers else CPU_PROVIDER
        # fixed at session creation; read once (every heartbeat reports it)
        self._intra_op_threads = int(session.get_session_options().intra_op_num_threads)

    @property
    def model_id(self) -> str:
        return self.card.model_id

    @property
    def threshold(self) -> float:
        """Output above this means "cloudy" (from the card)."""
        return self.card.threshold

    @property
    def intra_op_threads(self) -> int:
        """The session's intra-op thread count (a new count needs a new session)."""
        return self._intra_op_threads

    def run_options(self) -> Any:
        """Fresh onnxruntime ``RunOptions`` for one job: setting ``terminate`` on them
        from another thread interrupts that job's :meth:`infer` (a cancel)."""
        import onnxruntime as ort

        return ort.RunOptions()

    def infer(self, batch: npt.NDArray[np.float32],
              run_options: Any = None) -> npt.NDArray[np.float32]:
        """Run the model on a batch; returns the first output as float32 ``[n]``.
        ``run_options`` (:meth:`run_options`): the job's, so that it can be interrupted."""
        if batch.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        try:
            (out,) = self._session.run([self.card.output_name], {self.card.input_name: batch},
                                       run_options)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidArgument types
            raise ModelError("inference failed", model=self.model_id,
                             error=f"{type(exc).__name__}: {exc}") from exc
        result = np.asarray(out, dtype=np.float32).reshape(-1)
        if result.shape[0] != batch.shape[0]:
            raise ModelError("model returned the wrong number of outputs", model=self.model_id,
                             expected=batch.shape[0], got=result.shape[0])
        return result


def load_model(
    path: Path | None = None,
    *,
    intra_op_threads: int = 1,
    available_providers: list[str] | None = None,
) -> LoadedModel:
    """Load, verify and dry-run the model at ``path`` (default: the shipped one)."""
    import onnxruntime as ort

    model_path = Path(path) if path is not None else DEFAULT_MODEL_PATH
    card = ModelCard.read(card_path_for(model_path))
    try:
        blob = model_path.read_bytes()
    except OSError as exc:
        raise ModelError("model file unreadable", model=str(model_path),
                         error=str(exc)) from exc
    digest = sha256_hex(blob)
    if digest != card.sha256:
        raise ModelError("model file does not match its card's sha256", model=str(model_path),
                         expected=card.sha256, actual=digest)
    if intra_op_threads < 1:
        raise ModelError("intra_op_threads must be >= 1", intra_op_threads=intra_op_threads)
    available = (
        available_providers if available_providers is not None
        else list(ort.get_available_providers())
    )
    providers = choose_providers(available)
    try:
        return _open_and_check(ort, blob, card, model_path, digest, providers, intra_op_threads)
    except ModelError as exc:
        if providers == [CPU_PROVIDER]:
            raise
        # An accelerator that cannot run it must not cost us the payload: retry on CPU.
        model = _open_and_check(ort, blob, card, model_path, digest, [CPU_PROVIDER],
                                intra_op_threads)
        model.fallback_reason = f"{providers[0]} failed: {exc}"
        return model


def _open_and_check(ort: Any, blob: bytes, card: ModelCard, path: Path, digest: str,
                    providers: list[str], intra_op_threads: int) -> LoadedModel:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: warnings would flood the payload's log
    # the session computes with arrays we own and can scrub (payload.model_weights)
    weights = WeightBank.from_blob(blob, source=path, source_sha256=digest)
    weights.bind(ort, options)
    try:
        session = ort.InferenceSession(blob, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime's InvalidProtobuf, Fail, NoSuchFile, ...
        raise ModelError("onnxruntime cannot load the model", model=str(path),
                         error=f"{type(exc).__name__}: {exc}") from exc
    unused = [p for p in providers if p not in session.get_providers()]
    if unused and providers[0] != CPU_PROVIDER and providers[0] in unused:
        # asked for an accelerator, onnxruntime quietly gave us less: say so
        raise ModelError("execution provider not usable", model=str(path),
                         provider=providers[0], got=session.get_providers())
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    if card.input_name not in inputs:
        raise ModelError("model has no input named in its card", model=str(path),
                         expected=card.input_name, found=sorted(inputs))
    if card.output_name not in outputs:
        raise ModelError("model has no output named in its card", model=str(path),
                         expected=card.output_name, found=sorted(outputs))
    model = LoadedModel(card, session, path, digest, weights=weights)
    dry_shape = tuple(d if isinstance(d, int) else 1 for d in card.input_shape)
    probe = model.infer(np.zeros(dry_shape, dtype=np.float32))
    if not np.all(np.isfinite(probe)):
        raise ModelError("dry inference returned non-finite values", model=str(path))
    return model
