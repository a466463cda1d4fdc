import {
  type ArgumentMetadata,
  BadRequestException,
  ParseUUIDPipe,
  type PipeTransform,
  ValidationPipe,
  type ValidationError,
} from '@nestjs/common';
import { ValidateIf } from 'class-validator';
import { assertPlainInput } from './hostile-input.js';

function describe(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = `${prefix}${e.property}`;
    const own = Object.values(e.constraints ?? {}).map((m) =>
      m.startsWith(e.property) ? `${prefix}${m}` : `${path}: ${m}`,
    );
    return [...own, ...describe(e.children ?? [], `${path}.`)];
  });
}

const validationFailed = (message: string) =>
  new BadRequestException({ statusCode: 400, code: 'VALIDATION_FAILED', message });

/** ValidationPipe that first refuses hostile input it would otherwise drop or choke on. */
class StrictValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata) {
    if (metadata.type === 'body' || metadata.type === 'query') assertPlainInput(value);
    return super.transform(value, metadata);
  }
}

/**
 * Strict validation for our DTOs: unknown fields are refused, nothing is coerced (a string is not
 * a number), and every failure is a 400 VALIDATION_FAILED naming the fields.
 */
export const strictValidationPipe = new StrictValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  transformOptions: { enableImplicitConversion: false },
  forbidUnknownValues: true,
  stopAtFirstError: true,
  exceptionFactory: (errors) => validationFailed(describe(errors).join('; ') || 'invalid request'),
});

/**
 * A UUID as the store keeps it: in lower case. Input may come in capitals (RFC 9562: the same id);
 * the event store's stream ids are text, so an id in capitals would name no stream, where the read
 * models' uuid columns find it. Guards must use it too, before they look an id up.
 */
export const canonicalUuid = (id: string): string => id.toLowerCase();

class UuidParamPipe extends ParseUUIDPipe {
  override async transform(
    value: unknown,
    metadata: ArgumentMetadata,
  ): Promise<string | undefined | null> {
    const id = await super.transform(value, metadata);
    return typeof id === 'string' ? canonicalUuid(id) : id;
  }
}

/** Path parameter `:id` must be a UUID (400 VALIDATION_FAILED otherwise); see canonicalUuid. */
export const uuidParam = new UuidParamPipe({
  exceptionFactory: () => validationFailed('id must be a UUID'),
});

/** For a DTO's UUID field: see canonicalUuid. */
export const toCanonicalUuid = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? canonicalUuid(value) : value;

/** Like @IsOptional(), but `null` is refused: a field is either absent or valid. */
export const IsOptionalNotNull = () => ValidateIf((_object, value) => value !== undefined);

/** Query-string integer: only plain decimal digits become a number; anything else fails @IsInt. */
export const toInteger = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value;

/**
 * For a route that takes no query parameters, or no body: any is refused (400 VALIDATION_FAILED),
 * as the routes with a DTO refuse the fields it does not name. (A DTO without properties would
 * fail every request: class-validator refuses an object it has no metadata for.)
 */
export const noFields: PipeTransform<Record<string, unknown>> = {
  transform(value) {
    const [name] = Object.keys(value ?? {});
    if (name !== undefined) throw validationFailed(`${name}: property ${name} should not exist`);
    return value;
  },
};
