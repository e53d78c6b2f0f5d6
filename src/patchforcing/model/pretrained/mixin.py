"""``save_pretrained`` / ``from_pretrained`` for the package's models (generators and the metrics
classifier), over the folder layout of :mod:`patchforcing.model.pretrained.meta`."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from patchforcing.model.pretrained.card import CARD_IMAGE, model_card
from patchforcing.model.pretrained.dtype import parameter_dtype
from patchforcing.model.pretrained.errors import CheckpointError
from patchforcing.model.pretrained.folder import (
    load_state_dict_checked,
    read_weights,
    resolve_model_folder,
    weights_file,
    write_weights,
)
from patchforcing.model.pretrained.meta import DataSpec, ModelMeta, meta_to_json, read_meta
from patchforcing.utils.io.atomic import atomic_directory, fsync_dir
from patchforcing.utils.io.destination import OutputKind, check_output_folder, names
from patchforcing.utils.io.write_error import WRITE_ERRORS, DiskWriteError
from patchforcing.utils.limits import check_memory

__all__ = ["PretrainedMixin", "MODEL_FOLDER_FILES", "TEXT_ENCODER_FILE", "check_destination"]

TEXT_ENCODER_FILE = (
    "text_encoder.json"  # a text-to-image model's encoder (tokenizer vocabulary or encoder folder)
)
MODEL_FOLDER_FILES = (
    "config.json",
    "model.safetensors",
    "README.md",
    "ema.safetensors",
    "train_config.json",
    "train_state.pt",
    TEXT_ENCODER_FILE,
)

M = TypeVar("M", bound="PretrainedMixin")


MODEL_FOLDER = OutputKind(
    "a model folder", ("config.json",), names(*MODEL_FOLDER_FILES, CARD_IMAGE)
)  # the card's sample grid is the folder's too, though no model reads it


def check_destination(destination: Path, overwrite: bool, source: Path | None = None) -> None:
    """Refuse to write where files the package did not write would be lost: a non-empty folder that
    is not a model folder, any model folder without ``overwrite``, or a folder inside ``source``."""
    check_output_folder(destination, MODEL_FOLDER, overwrite, source)


class PretrainedMixin(nn.Module):
    """Subclasses set ``model_type``, keep their typed config in ``self.config`` and implement
    :meth:`config_from_architecture` and :meth:`data_spec`."""

    model_type: ClassVar[str] = ""
    meta: ModelMeta | None = None  # set by from_pretrained
    source: Path | None = None  # the folder it was loaded from

    @classmethod
    def config_from_architecture(cls, values: dict[str, Any]) -> Any:
        raise NotImplementedError

    def data_spec(self, class_names: tuple[str, ...] = ()) -> DataSpec:
        raise NotImplementedError

    def layout(self) -> dict[str, Any]:
        """Derived facts written into config.json for readers (e.g. the patch grid); never
        read back."""
        return {}

    def make_meta(
        self,
        training: dict[str, Any] | None = None,
        quality: dict[str, Any] | None = None,
        class_names: tuple[str, ...] = (),
    ) -> ModelMeta:
        """The config.json contents for this model, keeping what ``self.meta`` already knew."""
        old = self.meta
        names = class_names or (old.data.class_names if old else ())
        data = self.data_spec(names)
        if old is not None:
            data = DataSpec(
                data.channels, data.image_size, old.data.value_range, old.data.space, names
            )
        config = self.config
        return ModelMeta(
            self.model_type,
            dict(vars(config)),
            data,
            training=training if training is not None else (dict(old.training) if old else {}),
            quality=quality if quality is not None else (dict(old.quality) if old else {}),
            recommended_sampling=old.recommended_sampling if old else None,
        )

    def fill_model_folder(self, folder: Path, meta: ModelMeta, name: str) -> None:
        """Write config.json, model.safetensors (this module's weights) and README.md
        into ``folder``."""
        (folder / "config.json").write_text(meta_to_json(meta, self.layout()))
        write_weights(self, folder / "model.safetensors")
        parameters = sum(p.numel() for p in self.parameters())
        (folder / "README.md").write_text(model_card(meta, name, parameters))

    def save_pretrained(
        self, folder: str | Path, meta: ModelMeta | None = None, *, overwrite: bool | None = None
    ) -> Path:
        """Write this model into ``folder`` the way Hugging Face libraries do: the folder (and its
        parents) is created when missing, the files written here (``config.json``,
        ``model.safetensors``, ``README.md``, and ``text_encoder.json`` for a text model) replace
        their namesakes one atomic rename each, and nothing else in the folder is touched.

        Refused before anything is written when the folder holds package files that this model
        would not replace (a training checkpoint's ``ema.safetensors``, another model's
        ``text_encoder.json``): they would be read together with the new files.

        Args:
            folder: the destination folder; returns it.
            meta: the ``config.json`` contents (default :meth:`make_meta`).
            overwrite: deprecated (release 0.1's whole-folder write, now :meth:`export_folder`);
                given, it warns and writes the way 0.1 did.

        Example::

            model.save_pretrained("my-model")
            PatchForcingDiT.from_pretrained("my-model")
        """
        if overwrite is not None:
            warnings.warn(
                "save_pretrained(overwrite=...) is deprecated: save_pretrained now replaces only "
                "the files it writes; export_folder(folder, overwrite=...) writes a whole folder",
                DeprecationWarning,
                stacklevel=2,
            )
            return self.export_folder(folder, meta, overwrite)
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise CheckpointError(f"{folder} is a file, not a folder")
        meta = meta or self.make_meta()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".{folder.name}.", dir=folder) as tmp:
                self.fill_model_folder(Path(tmp), meta, folder.name)
                written = sorted(p.name for p in Path(tmp).iterdir())
                stale = [n for n in MODEL_FOLDER_FILES if n not in written]
                stale = [n for n in stale if (folder / n).exists()]
                if stale:
                    raise CheckpointError(
                        f"{folder} holds {', '.join(stale)}, which this model would not replace "
                        "and which would be read with it; save into another folder"
                    )
                for name in written:
                    os.replace(Path(tmp) / name, folder / name)
            fsync_dir(folder)
        except WRITE_ERRORS as err:
            raise DiskWriteError("model folder", folder, err) from err
        return folder

    def export_folder(
        self, folder: str | Path, meta: ModelMeta | None = None, overwrite: bool = False
    ) -> Path:
        """The commands' write (``export``, ``convert``, ``classifier train``, ``clip train``):
        the whole model folder at once, atomically, refused where files the package did not write
        would be lost (:func:`check_destination`); an existing model folder is replaced only with
        ``overwrite``."""
        folder = Path(folder)
        check_destination(folder, overwrite)
        meta = meta or self.make_meta()
        return atomic_directory(
            folder,
            lambda tmp: self.fill_model_folder(tmp, meta, folder.name),
            "model folder",
            replace=overwrite,
        )

    @classmethod
    def from_pretrained(
        cls: type[M],
        name: str | Path,
        ema: bool = True,
        device: torch.device | str = "cpu",
        local_files_only: bool = False,
        torch_dtype: torch.dtype | str | None = None,
        *,
        download: bool | None = None,
    ) -> M:
        """Load a model in eval mode; ``model.meta`` holds its config.json and ``model.source``
        the folder it came from.

        Args:
            name: a model folder, a training run (its newest checkpoint), a shipped name
                (``"fmnist-pf"``) or a hub id (``"user/name"``, needs the ``[hub]`` extra;
                downloaded into the hub cache unless ``local_files_only`` or
                ``HF_HUB_OFFLINE=1``).
            ema: the EMA weights of a training checkpoint (``ema=False``: the online ones).
            device: where the model goes.
            local_files_only: read a hub id from the local hub cache only.
            torch_dtype: floating-point type of the parameters (a ``torch.dtype``, its name
                such as ``"bfloat16"``, or ``"auto"`` for the stored one); default float32.
            download: deprecated (release 0.1): ``download=False`` is ``local_files_only=True``.

        Example::

            model = PatchForcingDiT.from_pretrained("fmnist-pf", torch_dtype=torch.bfloat16)
        """
        if download is not None:
            warnings.warn(
                "from_pretrained(download=...) is deprecated: hub ids are fetched unless "
                "local_files_only=True (download=False)",
                DeprecationWarning,
                stacklevel=2,
            )
            local_files_only = not download
        folder = resolve_model_folder(name, local_files_only)
        meta = read_meta(folder)
        if meta.model_type != cls.model_type:
            raise CheckpointError(
                f"{folder} holds a {meta.model_type!r} model, not a {cls.model_type!r}; "
                "patchforcing.model.load_model loads any generator by its model_type"
            )
        try:
            config = cls.config_from_architecture(meta.architecture)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{folder / 'config.json'}: invalid architecture: {err}") from err
        path = weights_file(folder, ema)
        size = max(
            path.stat().st_size, 4 * getattr(config, "parameter_count", 0)
        )  # fp32 weights; a file may lie
        check_memory(2 * size, f"loading {path}")  # the model and the weights read into it
        model = cls(config)
        state = read_weights(path)
        dtype = parameter_dtype(torch_dtype, state)
        load_state_dict_checked(model, state, str(path))
        model.meta = meta
        model.source = folder
        return model.to(device=device, dtype=dtype).eval()
