"""Report tokenisation that cuts at a sentence boundary.

A report longer than ``max_tokens`` is cut after the last whole sentence that fits, rather than mid-sentence:
a half sentence such as "No pleural effusion or" can flip the meaning (the negation scope is lost), and the local
word-to-patch loss would align words that no longer form a statement. Only when the first sentence alone does not
fit is it cut at the token limit.
"""

from __future__ import annotations

import re

import torch

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a cleaned report (split after . ! ? followed by whitespace)."""
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text.strip())) if s]


def _n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def tokenize_report(text: str, tokenizer, max_tokens: int = 128) -> dict:
    """Tokenise ``text`` to exactly ``max_tokens`` ids, keeping whole sentences only.

    Args:
        tokenizer: any Hugging Face tokenizer (special tokens are added as the tokenizer defines them).
    Returns:
        {"input_ids": LongTensor [max_tokens], "attention_mask": LongTensor [max_tokens] (1 = real token),
         "text": the text that was kept, "truncated": bool}.
    """
    sentences = split_sentences(text)
    kept = " ".join(sentences)
    truncated = False
    if _n_tokens(tokenizer, kept) > max_tokens:
        truncated = True
        # Token counts grow with each added sentence, so a binary search finds the longest fitting prefix.
        lo, hi = 0, len(sentences)  # invariant: prefix of lo sentences fits, of hi does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _n_tokens(tokenizer, " ".join(sentences[:mid])) <= max_tokens:
                lo = mid
            else:
                hi = mid
        kept = " ".join(sentences[:lo]) if lo > 0 else sentences[0]
    enc = tokenizer(kept, add_special_tokens=True, truncation=True, max_length=max_tokens)
    ids = list(enc["input_ids"])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    n = len(ids)
    input_ids = torch.full((max_tokens,), pad_id, dtype=torch.long)
    input_ids[:n] = torch.tensor(ids, dtype=torch.long)
    attention_mask = torch.zeros(max_tokens, dtype=torch.long)
    attention_mask[:n] = 1
    if n < _n_tokens(tokenizer, kept):  # first sentence alone too long: it was cut at the token limit
        kept = tokenizer.decode(ids, skip_special_tokens=True)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "text": kept, "truncated": truncated}
