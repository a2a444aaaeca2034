"""Prompts → class embeddings → scores, for any model with a shared text/other embedding space.

CLIP/CONCH-style pathology models, MERL-style ECG models, report encoders.

Class embeddings follow open_clip: every class name is put into every template (and, MERL
style, optional knowledge descriptions are added), each text is embedded and L2-normalised,
the class embedding is the normalised mean. Scores are cosine similarities times a
temperature, softmaxed over classes.

Examples:
    >>> import torch
    >>> table = {"tumor": torch.tensor([1.0, 0.0]), "normal": torch.tensor([0.0, 1.0])}
    >>> def encode_text(texts):
    ...     return torch.stack([table["normal" if "normal" in t else "tumor"] for t in texts])
    >>> clf = ZeroShotClassifier(encode_text, ["tumor", "normal"], templates=["an image of {}."])
    >>> clf.predict_proba(torch.tensor([[0.9, 0.1]])).argmax(1).tolist()
    [0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from biomm.errors import InputError

TextEncoderFn = Callable[[list[str]], torch.Tensor]


def build_class_embeddings(
    encode_text: TextEncoderFn,
    class_names: Sequence[str],
    templates: Sequence[str] = ("{}",),
    descriptions: Mapping[str, Sequence[str]] | None = None,
) -> torch.Tensor:
    """Normalised class embeddings ``[C, D]`` from names × templates (+ descriptions).

    Args:
        encode_text: Function from a list of texts to ``[N, D]`` embeddings.
        class_names: The classes, in output order.
        templates: Format strings with one ``{}`` for the class name.
        descriptions: Optional extra texts per class (clinical knowledge), embedded as is.

    Raises:
        InputError: On an empty class list, a template without ``{}`` or a class without
            any text.

    Examples:
        >>> enc = lambda texts: torch.tensor([[float(len(t)), 1.0] for t in texts])
        >>> build_class_embeddings(enc, ["a", "bb"], ["{}"]).norm(dim=1).tolist()
        [1.0, 1.0]
    """
    if not class_names:
        raise InputError("zero-shot classification needs at least one class name")
    bad = [t for t in templates if "{}" not in t]
    if bad:
        raise InputError(f"templates need a '{{}}' placeholder for the class name: {bad}")
    embeddings = []
    for name in class_names:
        texts = [t.format(name) for t in templates]
        texts += list((descriptions or {}).get(name, []))
        if not texts:
            raise InputError(f"class {name!r} has no prompt")
        emb = F.normalize(torch.as_tensor(encode_text(texts)).float(), dim=-1)
        embeddings.append(F.normalize(emb.mean(0), dim=-1))
    return torch.stack(embeddings)


class ZeroShotClassifier:
    """Classify embeddings by cosine similarity to prompt-built class embeddings.

    Args:
        encode_text: Function from texts to ``[N, D]`` embeddings (the model's text tower).
        class_names: The classes.
        templates: Prompt templates with ``{}``.
        descriptions: Optional knowledge texts per class.
        temperature: Logit scale applied to cosine similarities (CLIP uses 100).
    """

    def __init__(
        self,
        encode_text: TextEncoderFn,
        class_names: Sequence[str],
        templates: Sequence[str] = ("{}",),
        descriptions: Mapping[str, Sequence[str]] | None = None,
        temperature: float = 100.0,
    ) -> None:
        self.class_names = list(class_names)
        self.templates = list(templates)
        self.temperature = float(temperature)
        self.class_embeddings_ = build_class_embeddings(
            encode_text, self.class_names, self.templates, descriptions
        )

    def similarity(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Cosine similarity ``[..., C]`` of embeddings ``[..., D]`` to every class.

        Raises:
            InputError: When the embedding size differs from the text embeddings'.
        """
        embeddings = torch.as_tensor(embeddings).float()
        if embeddings.shape[-1] != self.class_embeddings_.shape[-1]:
            raise InputError(
                f"embeddings have {embeddings.shape[-1]} dimensions but the class embeddings "
                f"have {self.class_embeddings_.shape[-1]}: use the matching image/signal tower"
            )
        cls = self.class_embeddings_.to(embeddings.device)
        return F.normalize(embeddings, dim=-1) @ cls.T

    def predict_proba(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``[N, C]``: softmax of temperature × cosine similarity."""
        return (self.temperature * self.similarity(embeddings)).softmax(-1)

    def predict(self, embeddings: torch.Tensor) -> list[str]:
        """The most likely class name per embedding."""
        return [self.class_names[k] for k in self.predict_proba(embeddings).argmax(-1).tolist()]
