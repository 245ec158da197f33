/* consumer.c: a C99 program using the installed vkrwkv: loads the model given on the command line,
 * generates a few greedy tokens, checks a state save/load round trip and an error path.
 * Exit status 0 = all checks hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vkrwkv.h>

static int fail(const char *what) {
  fprintf(stderr, "consumer_c: %s: %s\n", what, vkrwkv_last_error());
  return 1;
}

static int check_state_round_trip(vkrwkv_session *s, int n_vocab) {
  const int32_t next = 42;
  long long size = vkrwkv_state_size(s);
  void *state = malloc((size_t)size);
  float *a = malloc(sizeof(float) * (size_t)n_vocab);
  float *b = malloc(sizeof(float) * (size_t)n_vocab);
  int rc = 1;
  if (state && a && b && vkrwkv_state_save(s, 0, state, size) == 0 &&
      vkrwkv_session_eval(s, 0, &next, 1, a) == 0 && vkrwkv_state_load(s, 0, state, size) == 0 &&
      vkrwkv_session_eval(s, 0, &next, 1, b) == 0) {
    rc = memcmp(a, b, sizeof(float) * (size_t)n_vocab) != 0;
    printf("state round trip (%lld bytes): %s\n", size, rc ? "DIFFERENT" : "ok");
  } else {
    fail("state round trip");
  }
  free(state);
  free(a);
  free(b);
  return rc;
}

int main(int argc, char **argv) {
  vkrwkv_context *ctx = NULL;
  vkrwkv_model *model = NULL, *missing = NULL;
  vkrwkv_session *s = NULL;
  int32_t ids[64];
  int n, i, rc = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
    return 2;
  }
  if (vkrwkv_context_create(-1, &ctx) != 0) return fail("context");
  if (vkrwkv_model_load(ctx, "/no/such/model.gguf", &missing) >= 0 || missing != NULL ||
      strstr(vkrwkv_last_error(), "/no/such/model.gguf") == NULL) {
    fprintf(stderr, "consumer_c: loading a missing file did not fail properly\n");
    rc = 1;
  }
  if (vkrwkv_model_load(ctx, argv[1], &model) != 0) return fail("model");
  if (vkrwkv_session_create(model, 1, &s) != 0) return fail("session");
  n = vkrwkv_tokenize(model, "The Eiffel tower is in", ids, 64);
  if (n <= 0) return fail("tokenize");
  printf("The Eiffel tower is in");
  for (i = 0; i < 8; ++i) {
    char piece[128];
    int id = vkrwkv_session_eval_greedy(s, 0, ids, n), len;
    if (id < 0) return fail("eval");
    len = vkrwkv_token_to_piece(model, id, piece, (int)sizeof(piece));
    if (len < 0) return fail("piece");
    printf("%.*s", len, piece);
    ids[0] = id;
    n = 1;
  }
  printf("\n");
  rc |= check_state_round_trip(s, vkrwkv_model_n_vocab(model));
  vkrwkv_session_free(s);
  vkrwkv_model_free(model);
  vkrwkv_context_destroy(ctx);
  printf("consumer_c: %s\n", rc ? "CHECKS FAILED" : "all checks passed");
  return rc;
}
