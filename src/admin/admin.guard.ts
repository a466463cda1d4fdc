import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

export const ADMIN_TOKEN = Symbol('ADMIN_TOKEN');

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Admin routes need `Authorization: Bearer <ADMIN_TOKEN>` when a token is configured (compared in
 * constant time); without one they are open (outside production, where they are not mounted).
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(ADMIN_TOKEN) private readonly token: string | undefined) {}

  canActivate(context: ExecutionContext): boolean {
    if (!this.token) return true;
    const header = context.switchToHttp().getRequest<Request>().header('authorization') ?? '';
    const given = /^Bearer (.+)$/i.exec(header)?.[1] ?? '';
    if (!timingSafeEqual(digest(given), digest(this.token))) {
      throw new UnauthorizedException({
        code: 'UNAUTHORIZED',
        message: 'admin routes need Authorization: Bearer <ADMIN_TOKEN>',
      });
    }
    return true;
  }
}
