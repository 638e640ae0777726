/*
 * Invite codes: PREFIX + 16 characters of base32 without 0, 1, I and L.
 *
 * The first IG_CODE_RANDOM_LEN characters come from libsodium's CSPRNG; the
 * last IG_CODE_CHECK_LEN are a keyed BLAKE2b check over them, so a mistyped or
 * guessed code is refused without a Redis call (a random guess passes with
 * probability 2^-15). Storage everywhere (Redis, events, PostgreSQL) uses the
 * 16-character body; the prefix is presentation only.
 *
 * A second form is accepted: an imported code, PREFIX + exactly 12 hex digits
 * (codes brought from an earlier system by `invitegate invites import`). It
 * has no check characters, so it is always looked up in Redis; its body is
 * the 12 digits in upper case. ig_code_form says which form a body is.
 */
#ifndef IG_CODE_H
#define IG_CODE_H

#include <stddef.h>

#define IG_CODE_ALPHABET "23456789ABCDEFGHJKMNOPQRSTUVWXYZ"
#define IG_CODE_BODY_LEN 16
#define IG_CODE_RANDOM_LEN 13
#define IG_CODE_CHECK_LEN (IG_CODE_BODY_LEN - IG_CODE_RANDOM_LEN)
#define IG_CODE_KEY_BYTES 32
#define IG_CODE_IMPORTED_LEN 12
/** Longest accepted raw input (prefix, dashes and spaces included). */
#define IG_CODE_INPUT_MAX_BYTES 64

/** The two forms of a normalised code body. */
typedef enum ig_code_form_t {
    IG_CODE_INVALID = -1,
    IG_CODE_ISSUED = 0,   /**< 16 alphabet characters, the last three a keyed check */
    IG_CODE_IMPORTED = 1, /**< 12 upper-case hex digits, no check */
} ig_code_form_t;

/** Form of the len characters of body: its shape only, the check is not verified. */
ig_code_form_t ig_code_form(const char *body, size_t len);

/** Value of the i-th character of a body of form f for the key layout: its alphabet value (issued) or hex value (imported). */
int ig_code_digit(ig_code_form_t f, char c);

/** Derives the key of the check characters from the configured secret_key (every process derives the same). */
void ig_code_key_derive(unsigned char out[IG_CODE_KEY_BYTES], const unsigned char secret_key[32]);

/** Writes a new code body (NUL-terminated) checked with key. */
void ig_code_generate(char out[IG_CODE_BODY_LEN + 1], const unsigned char key[IG_CODE_KEY_BYTES]);

/** Values of an issued body's first two characters read as one number, first lowest: d0 + 32 d1. */
#define IG_CODE_HEADS 1024

/**
 * Writes a new code body checked with key whose first two characters' value
 * (d0 + 32 d1) is rem modulo mod (mod a power of two up to IG_CODE_HEADS,
 * rem below it); the rest is random as in ig_code_generate.
 */
void ig_code_generate_head(char out[IG_CODE_BODY_LEN + 1], const unsigned char key[IG_CODE_KEY_BYTES], unsigned rem, unsigned mod);

/** Returns 0 when body carries a valid check under key, -1 otherwise. */
int ig_code_verify(const char body[IG_CODE_BODY_LEN], const unsigned char key[IG_CODE_KEY_BYTES]);

/**
 * Normalises user input to a code body: upper-cases, drops spaces and
 * dashes, strips prefix (compared the same way) when present. Returns the
 * form of the result: IG_CODE_ISSUED for 16 characters of the alphabet,
 * IG_CODE_IMPORTED for 12 hex digits, or -1 (IG_CODE_INVALID) otherwise. Does
 * not verify the check characters.
 */
int ig_code_normalise(char out[IG_CODE_BODY_LEN + 1], const char *in, size_t in_len, const char *prefix);

/**
 * Reads a code as a client gives it: ig_code_normalise, then the check of an
 * issued body verified with key. Sixteen characters without a valid check
 * may be a prefix of four characters and an imported body (the prefix
 * "DROP-" and DROP-A7F3E9D2B4C5): read so when they are. Returns
 * IG_CODE_ISSUED (check verified), IG_CODE_IMPORTED (no check to verify:
 * only the store tells whether it exists) or IG_CODE_INVALID.
 */
int ig_code_read(char out[IG_CODE_BODY_LEN + 1], const char *in, size_t in_len, const char *prefix,
                 const unsigned char key[IG_CODE_KEY_BYTES]);

/** Value 0..31 of one alphabet character, or -1. */
int ig_code_char_value(char c);

#endif
