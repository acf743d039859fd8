// Copied into src/api by scripts/gen-api.sh. DO NOT EDIT the copy.
//
// The generated service files make their grpc-js client constructors through
// this function, which loads @grpc/grpc-js when a client is first constructed
// rather than when the file is imported. berthd imports the service
// definitions (paths and codecs) and never makes a client: @grpc/grpc-js and
// the Node modules it pulls in (http2, tls, dns, ...) cost the daemon about
// 2 MB of memory for nothing. The client shares the one grpc-js instance:
// require() and import of a CommonJS package give the same module object.
import { createRequire } from 'node:module';
import type { ServiceClientConstructor, ServiceDefinition } from '@grpc/grpc-js';

type GrpcJs = typeof import('@grpc/grpc-js');

export function makeGenericClientConstructor(
  methods: ServiceDefinition,
  serviceName: string,
): ServiceClientConstructor {
  let made: ServiceClientConstructor | undefined;
  // A constructor that returns the real client: `new` yields that object.
  function LazyClient(...args: ConstructorParameters<ServiceClientConstructor>) {
    made ??= (
      createRequire(import.meta.url)('@grpc/grpc-js') as GrpcJs
    ).makeGenericClientConstructor(methods, serviceName);
    return new made(...args);
  }
  LazyClient.service = methods;
  LazyClient.serviceName = serviceName;
  return LazyClient as unknown as ServiceClientConstructor;
}
