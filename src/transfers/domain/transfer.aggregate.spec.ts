import { describe, it } from '@jest/globals';
import { AggregateSpec } from '../../event-sourcing/testing/aggregate-spec.js';
import { Transfer } from './transfer.aggregate.js';
import { SameAccountError, TransferAlreadyExistsError } from './transfer.errors.js';
import {
  TransferCompleted,
  TransferDebited,
  TransferFailed,
  TransferRequested,
} from './transfer.events.js';

const id = 'a1e2c3d4-0000-4000-8000-000000000001';
const from = 'a1e2c3d4-0000-4000-8000-00000000000a';
const to = 'a1e2c3d4-0000-4000-8000-00000000000b';
const transfer = () => AggregateSpec.for(Transfer, id);
const requested = new TransferRequested(id, from, to, 500, 'USD');

describe('Transfer', () => {
  describe('when not requested yet', () => {
    it('is requested between two accounts', () => {
      transfer()
        .given()
        .when((t) => t.request(from, to, 500, 'USD'))
        .then(requested);
    });

    it('refuses the same account on both sides', () => {
      transfer()
        .given()
        .when((t) => t.request(from, from, 500, 'USD'))
        .thenThrows(SameAccountError, 'SAME_ACCOUNT');
    });
  });

  describe('when requested', () => {
    it('refuses a second request with its id', () => {
      transfer()
        .given(requested)
        .when((t) => t.request(from, to, 500, 'USD'))
        .thenThrows(TransferAlreadyExistsError);
    });

    it('records the debit once', () => {
      transfer()
        .given(requested)
        .when((t) => t.markDebited())
        .then(new TransferDebited(id));
      transfer()
        .given(requested, new TransferDebited(id))
        .when((t) => t.markDebited())
        .then();
    });

    it('does not complete before the debit', () => {
      transfer()
        .given(requested)
        .when((t) => t.complete())
        .then();
    });

    it('fails with a reason', () => {
      transfer()
        .given(requested)
        .when((t) => t.fail('INSUFFICIENT_FUNDS'))
        .then(new TransferFailed(id, 'INSUFFICIENT_FUNDS'));
    });
  });

  describe('when debited', () => {
    const debited = [requested, new TransferDebited(id)];

    it('completes once', () => {
      transfer()
        .given(...debited)
        .when((t) => t.complete())
        .then(new TransferCompleted(id));
      transfer()
        .given(...debited, new TransferCompleted(id))
        .when((t) => t.complete())
        .then();
    });

    it('fails after a refund', () => {
      transfer()
        .given(...debited)
        .when((t) => t.fail('ACCOUNT_CLOSED'))
        .then(new TransferFailed(id, 'ACCOUNT_CLOSED'));
    });
  });

  describe('when final', () => {
    it('neither completes nor fails again', () => {
      transfer()
        .given(requested, new TransferFailed(id, 'ACCOUNT_CLOSED'))
        .when((t) => t.complete())
        .then();
      transfer()
        .given(requested, new TransferDebited(id), new TransferCompleted(id))
        .when((t) => t.fail('X'))
        .then();
    });
  });
});
