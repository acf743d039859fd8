import {
  type TransferRequest,
  TransferService,
} from '../../api/containerd/services/transfer/v1/transfer.js';
import type { Transferrer } from '../../core/transfer/index.js';
import { type GrpcService, unary } from '../../server/service.js';
import { transferRequestFromProto } from '../../wire/transfer.js';

/**
 * containerd.services.transfer.v1.Transfer over a {@link Transferrer}: the
 * source and destination Anys become the domain's endpoints (streams stay
 * ids the transferrer looks up); an unknown type or pair is UNIMPLEMENTED.
 */
export function transferService(transferrer: Transferrer): GrpcService {
  return {
    name: 'containerd.services.transfer.v1.Transfer',
    definition: TransferService,
    namespaced: true,
    handlers: {
      Transfer: unary(async (ctx, req: TransferRequest) => {
        await transferrer.transfer(ctx, transferRequestFromProto(req));
        return {};
      }),
    },
  };
}
