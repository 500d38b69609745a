"""Tiny random-weight sentence-transformers models made on the spot (no download): BERT with a WordPiece
vocabulary, XLM-R with a trained Unigram (sentencepiece-style) vocabulary, mean or CLS pooling, with or
without prompts in their config. A few hundred kilobytes each; their vectors mean nothing, but every step a real
model goes through (tokenizer, special tokens, pooling, normalisation, prompts, export) is exercised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "on",
    "for",
    "with",
    "that",
    "by",
    "from",
    "as",
    "at",
    "it",
    "are",
    "was",
    "be",
    "this",
    "an",
    "or",
    "which",
    "river",
    "rivers",
    "bank",
    "banks",
    "boat",
    "boats",
    "water",
    "tide",
    "tides",
    "sea",
    "ships",
    "ship",
    "harbour",
    "crane",
    "cranes",
    "cargo",
    "bird",
    "birds",
    "gannet",
    "gannets",
    "dive",
    "fish",
    "cliff",
    "cliffs",
    "nest",
    "nests",
    "volcano",
    "ash",
    "cloud",
    "aircraft",
    "engine",
    "engines",
    "query",
    "passage",
    "search",
    "document",
]


def _bert_tokenizer() -> Any:
    from transformers import BertTokenizer

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *"abcdefghijklmnopqrstuvwxyz:.,"]
    tokens += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab = {token: n for n, token in enumerate(dict.fromkeys(tokens))}
    return BertTokenizer(vocab=vocab, do_lower_case=True)


def _xlmr_tokenizer() -> Any:
    from tokenizers import SentencePieceUnigramTokenizer, processors
    from transformers import XLMRobertaTokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = SentencePieceUnigramTokenizer()
    sentences = [" ".join(WORDS[i : i + 7]) for i in range(len(WORDS))] * 3
    trainer.train_from_iterator(sentences, vocab_size=120, special_tokens=specials, unk_token="<unk>")
    backend = trainer._tokenizer
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return XLMRobertaTokenizer(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
    )  # fmt: skip


def _tiny_bert_config(vocab_size: int, max_length: int) -> Any:
    """A BERT of two layers of width 32 reading `max_length` tokens: small enough to make in a test."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=max_length + 16,
    )


def make_tiny_model(
    folder: Path,
    *,
    kind: str = "bert",
    pooling: str = "mean",
    prompts: dict[str, str] | None = None,
    max_seq_length: int = 48,
    seed: int = 0,
) -> Path:
    """Save a tiny sentence-transformers model of `kind` (bert or xlmr) with `pooling` (mean or cls) into
    `folder`; `prompts` (e.g. {"query": "query: ", "document": "passage: "}) go into its config."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertModel, XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(seed)
    hf = folder / "hf"
    model: Any
    if kind == "bert":
        tokenizer = _bert_tokenizer()
        model = BertModel(_tiny_bert_config(len(tokenizer), max_seq_length))
    elif kind == "xlmr":
        tokenizer = _xlmr_tokenizer()
        model = XLMRobertaModel(
            XLMRobertaConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=37,
                max_position_embeddings=max_seq_length + 18,  # positions start after the padding index
                pad_token_id=1,
                bos_token_id=0,
                eos_token_id=2,
            )
        )
    else:
        raise ValueError(kind)
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    transformer = Transformer(str(hf), max_seq_length=max_seq_length)
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling), Normalize()]
    st = SentenceTransformer(modules=modules, device="cpu", prompts=prompts or {})
    out = folder / "model"
    st.save(str(out))
    return out


def make_tiny_cross_encoder(folder: Path, *, seed: int = 0, max_length: int = 64) -> Path:
    """Save a tiny random-weight cross-encoder (BERT with one output: a relevance score) into `folder`, as
    sentence-transformers' CrossEncoder saves one."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = _bert_tokenizer()
    config = _tiny_bert_config(len(tokenizer), max_length)
    config.num_labels = 1  # one output: the relevance score
    model = BertForSequenceClassification(config)
    out = folder / "cross-encoder"
    model.save_pretrained(out)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(out)
    return out
