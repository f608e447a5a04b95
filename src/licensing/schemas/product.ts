import { Type, type Static } from 'typebox';
import { Id, Nullable, Time } from './common.js';
import { LIMITS } from './limits.js';

/** A product: the id a seller's software checks, and its name. */

export const ProductName = Type.String({ minLength: 1, maxLength: LIMITS.product.name });
export const ProductDescription = Nullable(Type.String({ maxLength: LIMITS.product.description }));

export const ProductCreateInput = Type.Object(
  {
    id: Type.Optional({ ...Id, description: "The seller's id (e.g. the FaxStore item id); the next free id when absent" }),
    name: ProductName,
    description: Type.Optional(ProductDescription),
  },
  { additionalProperties: false },
);
export type ProductCreate = Static<typeof ProductCreateInput>;

export const ProductUpdateInput = Type.Object(
  { name: Type.Optional(ProductName), description: Type.Optional(ProductDescription) },
  { additionalProperties: false },
);
export type ProductUpdate = Static<typeof ProductUpdateInput>;

export const Product = Type.Object({ id: Id, name: Type.String(), description: Nullable(Type.String()), createdAt: Time, updatedAt: Time });
export type ProductJson = Static<typeof Product>;
